// A display equation wider than the text column is scaled down until it fits, on every page and at every window
// width. MathJax 3 cannot break a line by itself, and an equation cut off at the column's edge loses its end.
(function () {
  "use strict";
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m) {
      if (m.dataset.fitSize === undefined) m.dataset.fitSize = m.style.fontSize || "";
      m.style.fontSize = m.dataset.fitSize;
      var box = m.parentElement;
      var avail = box ? box.clientWidth : 0;
      var inner = m.firstElementChild || m;
      var width = inner.getBoundingClientRect().width;
      if (avail > 0 && width > avail) {
        var size = parseFloat(getComputedStyle(m).fontSize);
        m.style.fontSize = (size * (avail - 2) / width).toFixed(2) + "px";
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(whenTypeset, 50);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", whenTypeset);
  } else {
    whenTypeset();
  }
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(fit, 100);
  });
})();
