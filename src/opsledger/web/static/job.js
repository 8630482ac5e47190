// Follows a job's output with server-sent events until the job ends. The stream replays
// from Last-Event-ID when the browser reconnects, so no line is shown twice.
"use strict";

// Shows the job's lines in `output` as they come; calls `onEnd` with the final status
// once the job has ended. Returns the stream, for a page that follows another job next.
function followOutput(output, url, onEnd) {
  output.replaceChildren();
  const source = new EventSource(url);
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
    onEnd(JSON.parse(event.data).status);
  });
  return source;
}

document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  if (!output || !output.dataset.stream) return;
  const status = document.getElementById("status");
  followOutput(output, output.dataset.stream, (ended) => {
    status.textContent = ended;
    status.className = "status status-" + ended;
    const cancel = document.getElementById("cancel");
    if (cancel) cancel.remove();
    document.body.dataset.jobEnded = ended;
  });
});
