// The Homeward operator console: one page, live from /api/live.
// Every value is written as text (textContent), never as markup: the
// values come from the network, and the page trusts none of them.
"use strict";

const $ = (id) => document.getElementById(id);
let snapshot = null;
let view = "flows";
let feed = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    if (c instanceof Node) {
      const td = document.createElement("td");
      td.appendChild(c);
      tr.appendChild(td);
    } else if (typeof c === "number") {
      tr.appendChild(el("td", c, "num"));
    } else {
      tr.appendChild(el("td", c === undefined || c === null ? "" : c));
    }
  }
  for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h";
  return Math.round(seconds / 86400) + " d";
}

// --- sign in -------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const answer = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
    credentials: "same-origin",
  });
  $("token").value = "";
  if (!answer.ok) {
    $("login-error").textContent = "That is not the operator token.";
    return;
  }
  start();
}

async function start() {
  const probe = await fetch("/api/snapshot", { credentials: "same-origin" });
  if (probe.status === 401) {
    $("signin").hidden = false;
    $("app").hidden = true;
    $("tabs").hidden = true;
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("tabs").hidden = false;
  if (probe.ok) render(await probe.json());
  connect();
}

function connect() {
  if (feed) feed.close();
  feed = new EventSource("/api/live");
  feed.addEventListener("snapshot", (e) => {
    try {
      render(JSON.parse(e.data));
    } catch (err) {
      $("status").textContent = "a snapshot did not parse: " + err;
      return;
    }
    document.body.dataset.live = "1";
  });
  feed.onerror = () => {
    document.body.dataset.live = "0";
    $("status").textContent = "live feed lost; reconnecting…";
  };
}

// --- views ---------------------------------------------------------------

function show(name) {
  view = name;
  for (const b of document.querySelectorAll("#tabs button")) {
    b.classList.toggle("on", b.dataset.view === name);
  }
  for (const s of document.querySelectorAll(".view")) {
    s.hidden = s.id !== "view-" + name;
  }
  if (snapshot) render(snapshot);
}

function render(s) {
  snapshot = s;
  $("status").textContent =
    "live · " + s.decisions + " decisions read · updated " + s.generatedAt.slice(11, 19) + " UTC";
  alarms(s);
  flows(s);
  rejections(s);
  backlog(s);
  services(s);
  late(s);
  waiting(s);
  audit(s);
}

function alarms(s) {
  const out = [];
  const stuck = s.backlog.filter((c) => c.stuck);
  const down = s.services.filter((x) => !x.up);
  if (!s.auditIntact) out.push(el("span", "AUDIT ALARM", "alarm"));
  if (stuck.length) out.push(el("span", stuck.length + " consumer(s) stuck", "alarm"));
  if (down.length) out.push(el("span", down.length + " service(s) down", "alarm"));
  if (s.lateTotal) out.push(el("span", s.lateTotal + " case(s) late", "alarm"));
  if (s.parked.length) out.push(el("span", s.parked.length + " message(s) parked", "alarm"));
  const lastMinute = s.refused.reduce((n, r) => n + r.minute, 0);
  if (lastMinute) out.push(el("span", lastMinute + " rejection(s) in the last minute", "alarm"));
  if (!out.length) out.push(el("span", "nothing stuck, down, late or rejected", "alarm ok"));
  $("alarms").replaceChildren(...out);
}

function heat(n, max) {
  if (!n) return "heat0";
  return "heat" + Math.max(1, Math.ceil((5 * Math.log(1 + n)) / Math.log(1 + max)));
}

function flows(s) {
  const accepted = s.flows.reduce((n, f) => n + f.total, 0);
  const refused = s.refused.reduce((n, f) => n + f.total, 0);
  $("flow-summary").textContent =
    accepted + " deliveries routed · " + refused + " submissions refused · " + s.decisions + " decisions";
  $("flow-summary").dataset.deliveries = accepted;
  $("flow-summary").dataset.refused = refused;

  // The matrix: senders down, recipients across, shaded by count.
  const senders = [...new Set(s.flows.map((f) => f.sender))].sort();
  const recipients = [...new Set(s.flows.map((f) => f.recipient))].sort();
  const cell = {};
  let max = 0;
  for (const f of s.flows) {
    const k = f.sender + "→" + f.recipient;
    cell[k] = (cell[k] || 0) + f.total;
    max = Math.max(max, cell[k]);
  }
  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.appendChild(el("th", "from \\ to"));
  for (const r of recipients) head.appendChild(el("th", r));
  table.appendChild(head);
  for (const from of senders) {
    const tr = document.createElement("tr");
    tr.appendChild(el("th", from, "row"));
    for (const to of recipients) {
      const n = cell[from + "→" + to] || 0;
      const td = el("td", n || "·", heat(n, max));
      td.dataset.from = from;
      td.dataset.to = to;
      td.title = from + " → " + to + ": " + n;
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  $("flow-matrix").replaceChildren(table);

  fill(
    "flow-table",
    s.flows.map((f) =>
      row([f.sender, f.recipient, f.type, f.minute, f.hour, f.day, f.total], {
        "data-flow": f.sender + "|" + f.recipient + "|" + f.type,
      }),
    ),
  );
  fill(
    "refused-table",
    s.refused.map((f) => row([f.sender, f.type, f.minute, f.hour, f.day, f.total])),
  );
}

function rejections(s) {
  const m = $("filter-member").value.trim();
  const t = $("filter-type").value.trim();
  const c = $("filter-code").value.trim();
  const list = s.rejections.filter(
    (r) =>
      (!m || r.sender === m) &&
      (!t || r.type === t) &&
      (!c || r.codes.includes(c)),
  );
  fill(
    "rejection-table",
    list.map((r) =>
      row(
        [
          r.time,
          r.sender,
          r.type || "?",
          r.case || "",
          r.codes.join(", "),
          r.reasons.map((x) => x.message).join(" · "),
          r.reasons.map((x) => x.instancePath || "").filter((p) => p).join(" "),
        ],
        { "data-rejection": String(r.auditSequence) },
      ),
    ),
  );
}

function backlog(s) {
  $("backlog-note").textContent =
    (s.backlogError ? "could not read all consumers: " + s.backlogError + ". " : "") +
    "A consumer is stuck when it has messages waiting and made no progress for " +
    ago(s.stuckAfterSeconds) + " (not the rejected copies a sender reads when it asks).";
  fill(
    "backlog-table",
    s.backlog.map((c) => {
      const state = c.stuck ? "stuck" : c.pending + c.ackPending > 0 ? "busy" : "ok";
      const oldest =
        c.oldestUnackedSeconds === null ? "" : (c.oldestExact ? "" : "over ") + ago(c.oldestUnackedSeconds);
      return row(
        [
          c.member,
          c.stream,
          c.consumer,
          c.pending,
          c.ackPending,
          c.redelivered,
          oldest,
          c.pending + c.ackPending > 0 ? ago(c.idleSeconds) : "",
          el("span", state, "state-" + state),
        ],
        { "data-consumer": c.consumer, "data-stream": c.stream, "data-state": state },
      );
    }),
  );
  fill(
    "parked-table",
    s.parked.map((p) =>
      row([p.time, p.member, p.stream, p.streamSequence, p.deliveries, p.kind, p.reason || ""], {
        "data-parked": p.consumer + ":" + p.streamSequence,
      }),
    ),
  );
}

function services(s) {
  fill(
    "service-table",
    s.services.map((x) => {
      const state = x.up ? "up" : "down";
      const first = x.instances[0] || {};
      const sum = (k) => x.instances.reduce((n, i) => n + i[k], 0);
      return row(
        [
          x.member,
          x.role,
          el("span", state, "state-" + state),
          x.instances.map((i) => i.name).join(", "),
          first.version || "",
          x.lastSeen ? x.lastSeen + " (" + ago(x.secondsSinceSeen) + " ago)" : "never",
          sum("processed"),
          sum("refused"),
          sum("errors"),
        ],
        { "data-service": x.member, "data-state": state },
      );
    }),
  );
}

function late(s) {
  $("late-note").textContent =
    s.lateTotal + " case(s) waiting longer than their stage allows" +
    (s.lateTotal > s.late.length ? " (the " + s.late.length + " waiting longest shown)" : "") +
    ". Thresholds: " +
    Object.entries(s.lateAfter)
      .sort()
      .map(([k, v]) => k + " " + ago(v))
      .join(", ");
  fill(
    "late-table",
    s.late.map((l) =>
      row([l.case, l.stage, l.since, ago(l.waitingSeconds), ago(l.thresholdSeconds), l.waitingOn.join(", ")], {
        "data-case": l.case,
      }),
    ),
  );
}

function waiting(s) {
  fill(
    "waiting-table",
    s.waiting.map((w) => row([w.stage, w.member, w.cases], { "data-waiting": w.stage + "|" + w.member })),
  );
}

function audit(s) {
  const a = s.audit;
  const state = s.auditIntact ? "intact" : "broken";
  const items = [
    ["state", el("span", state === "intact" ? "intact" : "ALARM", "state-" + state)],
    ["records verified", a.records],
    ["last verified record", a.lastSequence ? "#" + a.lastSequence + " at " + a.lastTime : "none yet"],
    ["its hash", a.lastHash || ""],
  ];
  if (a.broken) items.push(["broken link", a.broken]);
  if (a.streamAlarm) items.push(["stream", a.streamAlarm]);
  if (a.foreign.length) items.push(["foreign messages at", a.foreign.join(", ")]);
  const dl = $("audit-state");
  dl.replaceChildren();
  dl.dataset.state = state;
  for (const [k, v] of items) {
    dl.appendChild(el("dt", k));
    const dd = el("dd", v instanceof Node ? null : v);
    if (v instanceof Node) dd.appendChild(v);
    dl.appendChild(dd);
  }
}

async function showCase(event) {
  event.preventDefault();
  const ref = $("case-ref").value.trim();
  if (!ref) return;
  const answer = await fetch("/api/cases/" + encodeURIComponent(ref), { credentials: "same-origin" });
  const body = await answer.json();
  if (!answer.ok) {
    $("case-note").textContent = body.error || "no such case";
    fill("case-table", []);
    return;
  }
  $("case-note").textContent = body.steps.length + " decision(s) about " + body.case;
  $("case-note").dataset.case = body.case;
  fill(
    "case-table",
    body.steps.map((x, i) =>
      row(
        [
          i + 1,
          x.time,
          x.sender,
          x.recipients.join(", "),
          x.type || "?",
          el("span", x.decision, x.decision === "accepted" ? "state-ok" : "state-stuck"),
          x.decidedInMs === null || x.decidedInMs === undefined ? "" : x.decidedInMs + " ms",
          x.reasons.map((r) => r.code + ": " + r.message).join(" · "),
          x.traceId || "",
        ],
        { "data-step": x.type || "?" },
      ),
    ),
  );
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("case-form").addEventListener("submit", showCase);
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => show(b.dataset.view));
  }
  for (const id of ["filter-member", "filter-type", "filter-code"]) {
    $(id).addEventListener("input", () => snapshot && rejections(snapshot));
  }
  start();
});
