// Keeps a run's page current while it runs: its status, host results and task matrix are
// fetched again every two seconds until the run has ended. "Show output" follows one
// host's output live below them (job.js's followOutput).
"use strict";
const REFRESH_MS = 2000;

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  const card = document.getElementById("host-output-card");
  const output = document.getElementById("output");
  const title = document.getElementById("host-output-title");
  let following = null;

  live.addEventListener("click", (event) => {
    const button = event.target.closest("button.show-output");
    if (!button) return;
    if (following) following.close();
    card.hidden = false;
    title.textContent = "Output of " + button.dataset.host;
    output.dataset.host = button.dataset.host;
    delete output.dataset.ended;
    following = followOutput(output, button.dataset.stream, (ended) => {
      output.dataset.ended = ended;
    });
    output.focus();
  });

  function ended() {
    const state = document.getElementById("run-state");
    if (!state.dataset.ended) return false;
    document.body.dataset.runEnded = state.dataset.ended;
    return true;
  }

  async function refresh() {
    if (ended()) return;
    try {
      const response = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (response.ok) live.innerHTML = await response.text();
    } catch (error) {
      // The server restarting or the network going away: try again at the next tick.
    }
    setTimeout(refresh, REFRESH_MS);
  }
  if (!ended()) setTimeout(refresh, REFRESH_MS);
});
