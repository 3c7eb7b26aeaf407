// 党建质量管理体系 — small progressive enhancements; the pages work without scripts.
document.addEventListener("DOMContentLoaded", function () {
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
});
