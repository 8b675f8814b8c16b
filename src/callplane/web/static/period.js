// The period fields of a filter form (calls list, analytics): typing a date picks the "custom"
// period — the dates count only for it, so without this they were silently ignored — and
// choosing another period clears them. A file of ours, not inline: the CSP runs no inline script.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.elements.preset) { return; }
    if ((field.name === "since" || field.name === "until") && field.value) {
      form.elements.preset.value = "custom";
    } else if (field.name === "preset" && field.value !== "custom") {
      ["since", "until"].forEach(function (name) {
        if (form.elements[name]) { form.elements[name].value = ""; }
      });
    }
  });
})();
