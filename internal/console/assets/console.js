// Cairn console: refreshes the overview in place and streams the tail.
"use strict";
(function () {
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  const every = main && Number(main.dataset.refresh);
  if (live && every > 0) {
    let busy = false;
    setInterval(async function () {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const res = await fetch(live.dataset.src, { cache: "no-store" });
        if (res.ok) live.innerHTML = await res.text();
      } catch (e) {
        // The process may be restarting; try again next time.
      } finally {
        busy = false;
      }
    }, every);
  }

  const list = document.getElementById("records");
  if (list && window.EventSource) {
    const status = document.getElementById("tail-status");
    const src = new EventSource(list.dataset.stream);
    let n = 0;
    src.onmessage = function (ev) {
      const rec = JSON.parse(ev.data);
      const li = document.createElement("li");
      li.textContent = rec.line;
      li.dataset.status = rec.status;
      list.appendChild(li);
      while (list.children.length > 500) list.removeChild(list.firstChild);
      n++;
      status.textContent = n + " records so far";
    };
    src.onerror = function () {
      status.textContent = "The stream was interrupted; reconnecting…";
    };
  }

  // A replay form asks for confirmation on the next page; nothing to do here.
})();
