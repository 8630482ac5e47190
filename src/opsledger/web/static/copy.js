// A "Copy" button beside each value shown once (an API key, a generated password, a
// signing secret, a revealed secret): it puts the value on the clipboard, or, where the
// page may not write to it (plain http to another host), selects the value to copy by
// hand. Without JavaScript the value is there to select as it always was.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const value of document.querySelectorAll("[data-copy]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + value.dataset.copy);
    const said = document.createElement("span");
    said.className = "muted";
    said.setAttribute("role", "status");
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(value.textContent);
        said.textContent = " Copied.";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(value);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        said.textContent = " Selected: copy it with your keyboard.";
      }
    });
    value.after(" ", button, said);
  }
});
