// The campaign form's CSV file: choosing one reads it into the callee list, where the "check"
// step sends it like pasted text (the form stays a small URL-encoded POST; no upload parser on
// the server). UTF-8 first; a file that is not (Excel's Korean CSV is often CP949/EUC-KR) is
// read again as EUC-KR. A file of ours, not inline: the pages' CSP runs no inline script.
(function () {
  "use strict";
  function fill(text) {
    var box = document.getElementById("csv");
    if (box) { box.value = text.replace(/^\uFEFF/, ""); }
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-fills=csv]") || !input.files.length) {
      return;
    }
    input.files[0].arrayBuffer().then(function (bytes) {
      try {
        fill(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      } catch (notUtf8) {
        fill(new TextDecoder("euc-kr").decode(bytes));
      }
    });
  });
})();
