"""Training infrastructure: YAML configs, dataloaders, the Lightning Trainer, checkpoint -> release export.

``config`` reads a config and its ``a.b=value`` overrides; ``datamodule`` turns its ``data:``
section into dataloaders; ``trainer`` builds the task, callbacks and Trainer and runs or resumes
training; ``export`` turns a checkpoint into ``model.safetensors`` + ``config.json``.
"""
