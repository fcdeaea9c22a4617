// Renkei dashboard: the little the server cannot do. Loaded from /ui/static (CSP: no inline
// script). Times arrive as UTC in <time datetime>; they are shown in the viewer's zone.
"use strict";

function localTimes(root) {
  const lang = document.documentElement.lang || undefined;
  for (const element of root.querySelectorAll("time[datetime]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(lang, { dateStyle: "medium", timeStyle: "medium" });
      element.title = element.getAttribute("datetime");
    }
  }
}

// "Copy": copies the text of the element named by data-copy, says so in data-copied's element.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copied);
  if (!source) return;
  const text = source.textContent.trim();
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (error) {
    // Plain HTTP on another host is not a secure context: no clipboard API. Select the
    // text and ask for the older copy command instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    copied = document.execCommand("copy");
  }
  if (status) {
    status.textContent = copied
      ? button.dataset.copiedText || "Copied"
      : button.dataset.failedText || "Copy failed";
  }
});

document.addEventListener("DOMContentLoaded", () => localTimes(document));
document.addEventListener("htmx:afterSwap", (event) => localTimes(event.detail.target));
