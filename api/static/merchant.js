// The merchant page: live countdowns, and a reload when the refund's state changes (polling
// the page's own state URL). No framework, no external script; the page works without it.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.deadline) - now) / 1000);
      if (left <= 0) { el.textContent = el.dataset.passed; el.classList.add("urgent"); return; }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
      el.classList.toggle("urgent", left < 600);
    });
  }

  function poll() {
    var url = document.body.dataset.stateUrl;
    if (!url) return;
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "omit", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (state && state.version !== document.body.dataset.version) {
            window.location.replace(window.location.pathname);
          }
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, 4000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    poll();
  });
})();
