"""The static parts of the HTML report: style sheet and script (inline; nothing is fetched).

The script reads the ``IMAGES`` object (data URIs) written by
:mod:`cloudfree.evaluation.html_report` and drives the swipe viewer: two stacked images, the upper
one clipped at the slider position, a true/false colour switch, a choice of the image on each side,
and the mask / provenance overlays as toggles.
"""

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.controls { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; margin: .6em 0; }
.viewer { position: relative; display: inline-block; line-height: 0; border: 1px solid #999;
  background: #000; width: min(100%, 760px); }
.viewer img { display: block; width: 100%; height: auto; image-rendering: pixelated; }
.viewer img.layer { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.viewer .handle { position: absolute; top: 0; bottom: 0; width: 2px; background: #fff;
  box-shadow: 0 0 3px #000; pointer-events: none; }
.viewer .tag { position: absolute; top: 6px; padding: 2px 6px; font-size: 12px; line-height: 16px;
  background: rgba(0,0,0,.6); color: #fff; border-radius: 3px; }
#swipe { width: min(100%, 760px); display: block; margin: .4em 0; }
.hidden { display: none !important; }
.legend span.box { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; border: 1px solid #666; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figure img { max-width: 320px; image-rendering: pixelated; border: 1px solid #999; }
figcaption { font-size: .9em; } .bar { height: 10px; width: 320px; border: 1px solid #999; }
.bar-labels { display: flex; justify-content: space-between; width: 320px; font-size: .8em; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eee; } td.key, th.key { text-align: left; }
details { margin: .3em 0; } .note { color: #555; font-size: .9em; }
"""

SCRIPT = """
(function () {
  "use strict";
  const images = IMAGES;
  const $ = (id) => document.getElementById(id);
  const state = { colour: "true", left: images.default_left, right: images.default_right };
  function show() {
    const set = images[state.colour] || {};
    $("img-right").src = set[state.right] || "";
    $("img-left").src = set[state.left] || "";
    $("tag-left").textContent = state.left + " (" + state.colour + " colour)";
    $("tag-right").textContent = state.right;
    swipe();
  }
  function swipe() {
    const v = Number($("swipe").value);
    $("img-left").style.clipPath = "inset(0 " + (100 - v) + "% 0 0)";
    $("handle").style.left = v + "%";
  }
  function overlay(name) {
    const box = $("show-" + name), img = $("ov-" + name);
    if (!box || !img) { return; }
    img.src = images.overlays[name];
    img.classList.toggle("hidden", !box.checked);
    box.addEventListener("change", () => img.classList.toggle("hidden", !box.checked));
  }
  document.querySelectorAll("input[name=colour]").forEach((el) =>
    el.addEventListener("change", () => { state.colour = el.value; show(); }));
  $("left").addEventListener("change", (e) => { state.left = e.target.value; show(); });
  $("right").addEventListener("change", (e) => { state.right = e.target.value; show(); });
  $("swipe").addEventListener("input", swipe);
  overlay("mask");
  overlay("provenance");
  show();
})();
"""
