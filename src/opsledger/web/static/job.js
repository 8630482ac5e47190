// Follows a job's output with server-sent events until the job ends. The stream replays
// from Last-Event-ID when the browser reconnects, so no line is shown twice.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  const status = document.getElementById("status");
  if (!output) return;
  const source = new EventSource(output.dataset.stream);
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const row = document.createElement("div");
    row.className = "line" + (line.log_level ? " level-" + line.log_level : "");
    row.textContent = line.content;
    output.appendChild(row);
    output.scrollTop = output.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    source.close();
    const end = JSON.parse(event.data);
    status.textContent = end.status;
    status.className = "status status-" + end.status;
    const cancel = document.getElementById("cancel");
    if (cancel) cancel.remove();
    document.body.dataset.jobEnded = end.status;
  });
});
