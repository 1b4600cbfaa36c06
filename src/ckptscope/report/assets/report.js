// Draw every figure of the ckptscope report from its JSON block; no network access.
(function () {
  "use strict";
  var config = {responsive: true, displaylogo: false, typesetMath: false};
  document.querySelectorAll(".ckfig .plot").forEach(function (div) {
    var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
    Plotly.newPlot(div, spec.data, spec.layout, config)
      .then(function () {
        if (spec.frames && spec.frames.length) {
          return Plotly.addFrames(div, spec.frames);
        }
      })
      .then(function () {
        div.dataset.ready = "1";
      })
      .catch(function (err) {
        div.dataset.ready = "error";
        console.error("ckptscope: figure " + div.id + " failed: " + err);
      });
  });
})();
