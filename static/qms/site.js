// 党建质量管理体系 — small progressive enhancements; the pages work without scripts.
document.addEventListener("DOMContentLoaded", function () {
  // 菜单分组:one group open at a time; a click elsewhere closes it
  var groups = document.querySelectorAll(".menu details.group");
  groups.forEach(function (g) {
    g.addEventListener("toggle", function () {
      if (g.open) { groups.forEach(function (o) { if (o !== g) { o.open = false; } }); }
    });
  });
  document.addEventListener("click", function (ev) {
    groups.forEach(function (g) { if (!g.contains(ev.target)) { g.open = false; } });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("submit", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });
  document.querySelectorAll("a[data-back]").forEach(function (el) {
    el.addEventListener("click", function (ev) { ev.preventDefault(); window.history.back(); });
  });
  // 后台任务进度:[data-progress-url] polls a JSON {percent, chapter, state} and reloads when finished
  document.querySelectorAll("[data-progress-url]").forEach(function (box) {
    var url = box.getAttribute("data-progress-url");
    var bar = box.querySelector("progress"), label = box.querySelector("[data-progress-label]");
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (bar) { bar.value = d.percent; }
          if (label) { label.textContent = d.percent + "% · " + d.chapter; }
          if (d.state === "done" || d.state === "failed") { window.location.reload(); }
          else { window.setTimeout(poll, 1500); }
        })
        .catch(function () { window.setTimeout(poll, 4000); });
    }
    window.setTimeout(poll, 1000);
  });
});
