// Agora console: live refresh of the overview's agent table. Everything else is plain HTML forms,
// so the console works (without live refresh) with scripts off.
(function () {
  "use strict";
  var box = document.querySelector("[data-live]");
  if (!box) { return; }
  var url = box.getAttribute("data-live");
  var last = null; // {at, processed: {name: n}}

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) {
      var span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function render(data) {
    var tbody = box.querySelector("tbody");
    if (!tbody) { return; }
    var rows = document.createDocumentFragment();
    var processed = {};
    data.agents.forEach(function (agent) {
      processed[agent.name] = agent.processed;
      var rate = "–";
      if (last && last.processed[agent.name] !== undefined && data.at > last.at) {
        rate = ((agent.processed - last.processed[agent.name]) * 1000 / (data.at - last.at)).toFixed(1);
      }
      var tr = document.createElement("tr");
      tr.appendChild(cell(agent.name));
      tr.appendChild(cell(agent.role));
      tr.appendChild(cell(agent.status, "status " + agent.status));
      tr.appendChild(cell(String(agent.processed)));
      tr.appendChild(cell(rate));
      tr.appendChild(cell(String(agent.backlog)));
      tr.appendChild(cell(String(agent.errors)));
      tr.appendChild(cell(String(agent.restarts)));
      tr.appendChild(cell(agent.last_error || ""));
      rows.appendChild(tr);
    });
    tbody.replaceChildren(rows);
    last = { at: data.at, processed: processed };
    box.setAttribute("data-refreshed", String(data.at));
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/console/login?next=/console/overview"); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* the next poll retries */ })
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
