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

// A time to type (<input type=datetime-local data-local-time>) arrives in UTC: shown in the
// viewer's zone, and sent back as UTC ISO on submit (the server reads a bare value as UTC).
function pad(number) {
  return String(number).padStart(2, "0");
}

function localInputs(root) {
  for (const input of root.querySelectorAll("input[data-local-time]")) {
    const when = new Date(input.value + "Z");
    if (Number.isNaN(when.getTime())) continue;
    input.value =
      `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}` +
      `T${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const element of root.querySelectorAll("[data-time-zone]")) element.textContent = zone;
}

document.addEventListener("submit", (event) => {
  for (const input of event.target.querySelectorAll("input[data-local-time][name]")) {
    const when = new Date(input.value);
    if (Number.isNaN(when.getTime())) continue;
    const utc = document.createElement("input");
    utc.type = "hidden";
    utc.name = input.name;
    utc.value = when.toISOString();
    input.removeAttribute("name");
    event.target.append(utc);
  }
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  localInputs(document);
});
document.addEventListener("htmx:afterSwap", (event) => localTimes(event.detail.target));

// The shared alert of a refused htmx action (#htmx-error) is about the last action only
// (a poll, a GET, is no action: it leaves the alert in place).
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.requestConfig.verb === "get") return;
  const alert = document.getElementById("htmx-error");
  if (alert) alert.replaceChildren();
});
