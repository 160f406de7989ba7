// rtcapture report page: draws the model embedded in the page; no network, no libraries.
// Data arrives as two JSON script elements (#rtc-model, #rtc-events); every string from
// the recording goes into the page through textContent, never as markup.
"use strict";
(function () {
  const M = JSON.parse(document.getElementById("rtc-model").textContent);
  let EV = null; // event rows, parsed after the timeline's first paint
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const fmtMs = (v) => (v === null || v === undefined ? "-" : Math.round(v) + " ms");
  const fmtS = (ms) => (ms === null || ms === undefined ? "-" : (ms / 1000).toFixed(2) + " s");
  const audio = $("player");
  const total = Math.max(M.duration_ms || 0, 1000);

  // ------------------------------------------------------------------ header
  function renderHeader() {
    const s = M.session;
    $("title").textContent = "Session " + s.id + (s.label ? "  @" + s.label : "");
    const kv = $("header-kv");
    const add = (k, v) => {
      const d = el("div");
      d.appendChild(el("b", null, k));
      d.appendChild(document.createTextNode(v === null || v === undefined || v === "" ? "-" : String(v)));
      d.title = k + ": " + (v === null || v === undefined ? "-" : v);
      kv.appendChild(d);
    };
    add("id", s.id); add("label", s.label); add("model", s.model); add("dialect", s.dialect);
    add("started", s.started); add("duration", s.duration_s === null ? "-" : s.duration_s + " s");
    add("status", s.status + (s.status_reason ? " (" + s.status_reason + ")" : ""));
    add("close", (s.close_code === null ? "-" : s.close_code) + (s.closed_by ? " by " + s.closed_by : "") +
      (s.close_reason ? " " + s.close_reason : ""));
    add("events", s.events + " (client " + s.client_events + ", server " + s.server_events + ")");
    add("audio in / out", (s.input_audio_s || 0).toFixed(1) + " s / " + (s.output_audio_s || 0).toFixed(1) + " s");
    if (s.usage_seconds !== undefined) add("usage", s.usage_seconds === null ? "-" : s.usage_seconds + " s");
    else add("tokens in / out", s.tokens.input_tokens + " / " + s.tokens.output_tokens);
    add("responses", s.responses); add("errors", s.error_events);
    add("unparsed frames", s.parse_errors); add("lost frames", s.lost_frames);
    if (s.replay_of) add("replay of", s.replay_of);
    add("path", s.path);
  }

  // ------------------------------------------------------------------ conversation
  function renderConversation() {
    const ul = $("conv");
    for (const e of M.conversation) {
      const li = el("li", e.kind);
      li.dataset.kind = e.kind;
      li.dataset.tMs = e.t_ms;
      const meta = el("div", "meta");
      const body = el("div", "text");
      if (e.kind === "user") {
        meta.textContent = "user " + (e.typed ? "typed" : "spoke") + " at " + fmtS(e.t_ms) +
          (e.audio_ms !== null ? " · audio " + fmtS(e.audio_ms) : "") +
          (e.transcription_failed ? " · transcription failed" : "");
        body.textContent = e.text || (e.typed ? "" : "(no transcript)");
      } else if (e.kind === "reply") {
        const r = M.replies[e.index];
        li.dataset.responseId = r.response_id;
        li.dataset.firstAudioLatencyMs = r.first_audio_latency_ms === null ? "" : r.first_audio_latency_ms;
        li.dataset.firstTextLatencyMs = r.first_text_latency_ms === null ? "" : r.first_text_latency_ms;
        li.dataset.cutMs = r.cut_ms === null ? "" : r.cut_ms;
        meta.textContent = "reply #" + (e.index + 1) + " · " + (r.status || "?") +
          (r.status_reason ? " (" + r.status_reason + ")" : "") + " · trigger " + (r.trigger || "-") +
          " · first audio " + fmtMs(r.first_audio_latency_ms) + " · first text " + fmtMs(r.first_text_latency_ms) +
          " · audio " + fmtS(r.output_audio_ms);
        if (r.latency_ms !== undefined) { // a timeline dialect (GPT-Live): utterances
          li.dataset.latencyMs = r.latency_ms === null ? "" : r.latency_ms;
          li.dataset.perceivedLatencyMs = r.perceived_latency_ms === null ? "" : r.perceived_latency_ms;
          meta.appendChild(el("span", "timeline", " · timeline latency " + fmtMs(r.latency_ms) +
            " · heard after " + fmtMs(r.perceived_latency_ms) + " · at " + fmtS(r.timeline_start_ms) +
            "–" + fmtS(r.timeline_end_ms) + " on the session timeline"));
        }
        if (r.cut_ms !== null) {
          const c = el("span", "cut", " · cut at " + fmtS(r.cut_ms) + " (heard " + fmtS(r.heard_ms) + ")");
          c.dataset.cutMs = r.cut_ms;
          meta.appendChild(c);
        }
        body.textContent = r.transcript || "";
      } else if (e.kind === "tool") {
        meta.textContent = "tool call at " + fmtS(e.t_ms) + " · latency " + fmtMs(e.latency_ms) +
          (e.output_latency_ms !== null ? " · output after " + fmtMs(e.output_latency_ms) : " · no output");
        body.textContent = (e.name || "?") + "(" + (e.arguments || "") + ")" + (e.output !== null ? "\n→ " + e.output : "");
      } else {
        meta.textContent = "error at " + fmtS(e.t_ms) + (e.latency_ms !== null ? " · " + fmtMs(e.latency_ms) + " after seq " + e.cause_seq : "");
        body.textContent = (e.code || "error") + ": " + (e.message || "");
      }
      li.appendChild(meta); li.appendChild(body);
      li.addEventListener("click", () => { seek(e.t_ms); if (e.seq !== null && e.seq !== undefined) showEvent(e.seq); });
      ul.appendChild(li);
    }
    if (!M.conversation.length) ul.appendChild(el("li", null, "(no turns)"));
  }

  function renderList(id, rows, empty) {
    const box = $(id);
    if (!rows.length) { box.hidden = true; return; }
    box.hidden = false;
    const ul = box.querySelector("ul");
    for (const v of rows) {
      const li = el("li", "error", fmtS(v.t_ms) + "  " + (v.rule || "") + ": " + (v.message || ""));
      li.addEventListener("click", () => seek(v.t_ms));
      ul.appendChild(li);
    }
  }

  function renderDiff() {
    const d = M.diff;
    if (!d) return;
    $("diff").hidden = false;
    $("diff-verdict").textContent = d.equal ? "No differences from the original." :
      d.differences.length + " difference(s) from the original " + (d.a ? d.a.id : "");
    const tb = $("diff-table").querySelector("tbody");
    const cell = (r, k) => (r ? (r[k] === null || r[k] === undefined ? "-" : String(r[k])) : "(none)");
    for (const row of d.responses) {
      const tr = el("tr");
      tr.appendChild(el("td", null, row.index + 1));
      for (const side of [row.a, row.b]) {
        tr.appendChild(el("td", null, cell(side, "status") + " · first audio " + cell(side, "first_audio_ms") +
          " ms · audio " + cell(side, "audio_ms") + " ms\n" + (side ? (side.transcript || side.output_text || "") : "")));
      }
      tb.appendChild(tr);
    }
    const ul = $("diff-list");
    for (const x of d.differences) ul.appendChild(el("li", "mono", x.path + ": " + JSON.stringify(x.old) + " → " + JSON.stringify(x.new)));
  }

  // ------------------------------------------------------------------ timeline
  const canvas = $("tl");
  const ctx = canvas.getContext("2d");
  const GUTTER = 96, AXIS = 18;
  const LANES = ["user audio", "assistant heard", "assistant sent", "VAD speech", "responses", "tool calls", "errors", "violations"];
  const view = { t0: 0, t1: total };
  let cursorMs = 0;
  const decode = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const envUser = decode(M.user_envelope), envAsst = decode(M.assistant_envelope);
  const marks = []; // {lane, t0, t1, label, seqs}
  M.replies.forEach((r, i) => {
    const seqs = r.seqs || [];
    if (r.created_t_ms !== null) marks.push({ lane: 4, t0: r.created_t_ms, t1: r.done_t_ms !== null ? r.done_t_ms : total, label: "#" + (i + 1) + " " + (r.status || "open"), seqs, color: r.status === "completed" ? "#1f9d63" : "#d6336c" });
    for (const s of r.audio_spans) {
      marks.push({ lane: 2, t0: s.start_ms, t1: s.sent_end_ms, label: "#" + (i + 1), seqs, color: "#9ad3b5", cut: s.cut_ms });
      if (s.cut_ms !== null) marks.push({ lane: 1, t0: s.cut_ms, t1: s.cut_ms, label: "cut", seqs, color: "#d6336c" });
    }
  });
  for (const v of M.vad) marks.push({ lane: 3, t0: v[0], t1: v[1] === null ? total : v[1], label: "speech", seqs: [], color: "#7aa7ef" });
  for (const e of M.conversation) {
    if (e.kind === "tool") marks.push({ lane: 5, t0: e.t_ms, t1: e.output_t_ms !== null ? e.output_t_ms : e.t_ms, label: e.name || "call", seqs: [e.seq].concat(e.output_seq !== null ? [e.output_seq] : []), color: "#b7791f" });
    if (e.kind === "error") marks.push({ lane: 6, t0: e.t_ms, t1: e.t_ms, label: e.code || "error", seqs: [e.seq].concat(e.cause_seq !== null ? [e.cause_seq] : []), color: "#c92a2a" });
  }
  for (const v of M.violations) marks.push({ lane: 7, t0: v.t_ms, t1: v.end_t_ms || v.t_ms, label: v.rule || "violation", seqs: v.seqs || [], color: "#c92a2a" });

  function size() {
    const w = canvas.clientWidth, h = canvas.clientHeight, r = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * r)) { canvas.width = Math.round(w * r); canvas.height = Math.round(h * r); }
    ctx.setTransform(r, 0, 0, r, 0, 0);
    return [w, h];
  }
  const laneH = (h) => (h - AXIS) / LANES.length;
  const xOf = (t, w) => GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * (w - GUTTER - 8);
  const tOf = (x, w) => view.t0 + ((x - GUTTER) / (w - GUTTER - 8)) * (view.t1 - view.t0);

  function drawWave(env, lane, color, w, h) {
    const lh = laneH(h), mid = AXIS + lane * lh + lh / 2, hz = M.envelope_hz;
    ctx.fillStyle = color;
    for (let x = GUTTER; x < w - 8; x++) {
      const a = Math.max(0, Math.floor(tOf(x, w) * hz / 1000)), b = Math.min(env.length, Math.ceil(tOf(x + 1, w) * hz / 1000));
      let peak = 0;
      for (let i = a; i < b; i++) if (env[i] > peak) peak = env[i];
      if (a < env.length && b <= a && a >= 0) peak = env[a];
      if (peak) { const hh = Math.max(1, (peak / 255) * (lh / 2 - 2)); ctx.fillRect(x, mid - hh, 1, 2 * hh); }
    }
  }

  function draw() {
    const [w, h] = size();
    ctx.clearRect(0, 0, w, h);
    const lh = laneH(h);
    ctx.font = "11px system-ui, sans-serif";
    for (let i = 0; i < LANES.length; i++) {
      const y = AXIS + i * lh;
      ctx.fillStyle = i % 2 ? "#ffffff" : "#f7f8fa"; ctx.fillRect(0, y, w, lh);
      ctx.fillStyle = "#6b7385"; ctx.fillText(LANES[i], 6, y + lh / 2 + 4);
    }
    // axis: a tick step giving ~100 px
    const span = view.t1 - view.t0, steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000, 600000];
    const step = steps.find((s) => (s / span) * (w - GUTTER) >= 80) || 600000;
    ctx.fillStyle = "#1d2330"; ctx.strokeStyle = "#e1e4ea";
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t, w);
      ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, h); ctx.stroke();
      ctx.fillText((t / 1000).toFixed(step < 1000 ? 2 : 0) + " s", x + 2, 12);
    }
    drawWave(envUser, 0, "#2f6fdb", w, h);
    drawWave(envAsst, 1, "#1f9d63", w, h);
    for (const m of marks) {
      if (m.t1 < view.t0 || m.t0 > view.t1) continue;
      const y = AXIS + m.lane * lh, x0 = xOf(m.t0, w), x1 = Math.max(xOf(m.t1, w), x0 + 2);
      ctx.fillStyle = m.color;
      if (m.lane === 1) { ctx.fillRect(x0 - 1, y, 2, lh); ctx.fillText("cut " + (m.t0 / 1000).toFixed(3) + " s", x0 + 3, y + 11); continue; }
      ctx.fillRect(x0, y + 4, x1 - x0, lh - 8);
      if (m.cut !== undefined && m.cut !== null) {
        const xc = xOf(m.cut, w);
        ctx.fillStyle = "rgba(214,51,108,0.35)"; ctx.fillRect(xc, y + 4, Math.max(1, x1 - xc), lh - 8);
      }
      if (x1 - x0 > 30 || m.t0 === m.t1) { ctx.fillStyle = "#1d2330"; ctx.fillText(m.label, x0 + 3, y + lh / 2 + 4); }
    }
    canvas.dataset.t0Ms = view.t0; canvas.dataset.t1Ms = view.t1;
    canvas.dataset.gutter = GUTTER; canvas.dataset.painted = "1";
    placePlayhead();
  }

  function placePlayhead() {
    const w = canvas.clientWidth, t = audio ? audio.currentTime * 1000 : cursorMs;
    const ph = $("playhead");
    ph.style.left = xOf(t, w) + "px";
    ph.dataset.tMs = t;
    ph.hidden = t < view.t0 || t > view.t1;
    $("clock").textContent = (t / 1000).toFixed(2) + " / " + (total / 1000).toFixed(2) + " s";
  }

  function clampView() {
    const span = Math.min(Math.max(view.t1 - view.t0, 50), total * 1.05);
    view.t0 = Math.min(Math.max(view.t0, 0), Math.max(0, total - span));
    view.t1 = view.t0 + span;
  }
  function zoom(factor, centre) {
    const c = centre === undefined ? (view.t0 + view.t1) / 2 : centre;
    view.t0 = c - (c - view.t0) * factor; view.t1 = c + (view.t1 - c) * factor;
    clampView(); draw();
  }
  function seek(t) {
    t = Math.min(Math.max(t, 0), total);
    if (audio) audio.currentTime = t / 1000; else cursorMs = t;
    placePlayhead();
  }

  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false }; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (!drag.moved) return;
    const dt = (dx / (canvas.clientWidth - GUTTER - 8)) * (drag.t1 - drag.t0);
    view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; clampView(); draw();
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const moved = drag.moved; drag = null;
    if (moved) return;
    const r = canvas.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
    if (x < GUTTER) return;
    const t = tOf(x, canvas.clientWidth);
    seek(t);
    const lane = Math.floor((y - AXIS) / laneH(canvas.clientHeight));
    const tol = (4 / (canvas.clientWidth - GUTTER)) * (view.t1 - view.t0);
    const hit = marks.filter((m) => m.lane === lane && t >= m.t0 - tol && t <= m.t1 + tol);
    showSelection(t, hit);
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      const dt = ((ev.deltaX || ev.deltaY) / canvas.clientWidth) * (view.t1 - view.t0);
      view.t0 += dt; view.t1 += dt; clampView(); draw();
    } else {
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOf(ev.clientX - r.left, canvas.clientWidth));
    }
  }, { passive: false });
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("zoom-fit").addEventListener("click", () => { view.t0 = 0; view.t1 = total; draw(); });
  window.addEventListener("resize", draw);

  function showSelection(t, hit) {
    const box = $("selection");
    box.textContent = "at " + (t / 1000).toFixed(3) + " s";
    for (const m of hit) {
      box.appendChild(document.createTextNode(" · " + LANES[m.lane] + " " + m.label + ": "));
      for (const seq of m.seqs) {
        const a = el("a", null, "seq " + seq);
        a.href = "#log";
        a.addEventListener("click", (e) => { e.preventDefault(); showEvent(seq); });
        box.appendChild(a);
      }
    }
  }

  // ------------------------------------------------------------------ playback
  if (audio) {
    $("play").addEventListener("click", () => { if (audio.paused) audio.play(); else audio.pause(); });
    audio.addEventListener("play", () => { $("play").textContent = "Pause"; tick(); });
    audio.addEventListener("pause", () => { $("play").textContent = "Play"; });
    audio.addEventListener("seeked", placePlayhead);
    audio.addEventListener("timeupdate", placePlayhead);
    const tick = () => {
      placePlayhead();
      const t = audio.currentTime * 1000;
      if (!audio.paused && (t > view.t1 || t < view.t0)) { const span = view.t1 - view.t0; view.t0 = t - span * 0.1; view.t1 = view.t0 + span; clampView(); draw(); }
      if (!audio.paused) requestAnimationFrame(tick);
    };
  } else {
    $("play").disabled = true;
    $("play").title = "rendered with --no-audio";
  }

  // ------------------------------------------------------------------ event log
  const ROW = 20;
  let filtered = [], selected = null;
  const globRe = (glob) => {
    let re = "";
    for (let i = 0; i < glob.length; i++) {
      const c = glob[i];
      if (c === "*") re += ".*";
      else if (c === "?") re += ".";
      else if (c === "[") {
        const j = glob.indexOf("]", i + 2);
        if (j < 0) { re += "\\["; continue; }
        let body = glob.slice(i + 1, j).replace(/\\/g, "\\\\");
        if (body[0] === "!") body = "^" + body.slice(1);
        re += "[" + body + "]"; i = j;
      } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
    return new RegExp("^" + re + "$", "s");
  };
  function applyFilter() {
    const dir = $("f-dir").value, globs = $("f-type").value.split(",").map((g) => g.trim()).filter(Boolean).map(globRe);
    const text = $("f-text").value.toLowerCase();
    filtered = [];
    for (let i = 0; i < EV.length; i++) {
      const e = EV[i];
      if (dir && (e[1] === 0 ? "client" : "server") !== dir) continue;
      if (globs.length && !globs.some((g) => g.test(e[3] || ""))) continue;
      if (text && !((e[3] || "").toLowerCase().includes(text) || (e[4] || "").toLowerCase().includes(text))) continue;
      filtered.push(i);
    }
    $("log-count").textContent = filtered.length + " of " + EV.length + " frames";
    $("log-spacer").style.height = filtered.length * ROW + "px";
    $("log-list").scrollTop = 0;
    renderRows();
  }
  function renderRows() {
    const list = $("log-list"), rows = $("log-rows");
    const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 20);
    const last = filtered.length <= 3000 ? filtered.length : Math.min(filtered.length, first + Math.ceil(list.clientHeight / ROW) + 40);
    const start = filtered.length <= 3000 ? 0 : first;
    rows.textContent = "";
    for (let k = start; k < last; k++) {
      const e = EV[filtered[k]], r = el("div", "row mono");
      r.style.top = k * ROW + "px";
      r.dataset.seq = e[0];
      if (selected === e[0]) r.classList.add("sel");
      r.appendChild(el("span", "muted", String(e[0]).padStart(6) + " " + (e[2] / 1000).toFixed(3).padStart(9) + " s "));
      r.appendChild(el("span", e[1] === 0 ? "c" : "s", e[1] === 0 ? "→ client " : "← server "));
      r.appendChild(el("b", null, e[3] || (e[6] & 1 ? "(binary frame)" : "(not JSON)")));
      r.appendChild(el("span", "muted", " " + (e[4] || "").slice(0, 160)));
      r.addEventListener("click", () => showEvent(e[0]));
      rows.appendChild(r);
    }
  }
  function showEvent(seq) {
    if (!EV) return;
    selected = seq;
    const e = EV.find((x) => x[0] === seq);
    if (!e) return;
    let text;
    if (e[4] === null) text = e[6] & 1 ? "binary frame, " + e[5] + " bytes (its bytes are in the JSONL cassette)" : "frame of " + e[5] + " bytes that is not UTF-8 text";
    else { try { text = JSON.stringify(JSON.parse(e[4]), null, 2); } catch (_) { text = e[4]; } }
    $("log-detail").textContent = "seq " + e[0] + " · " + (e[1] === 0 ? "client" : "server") + " · " + (e[2] / 1000).toFixed(3) + " s · " + e[5] + " bytes" + (e[7] ? " · parse error" : "") + "\n\n" + text;
    const pos = filtered.indexOf(EV.indexOf(e));
    if (pos >= 0) { const list = $("log-list"); if (pos * ROW < list.scrollTop || pos * ROW > list.scrollTop + list.clientHeight - ROW) list.scrollTop = pos * ROW - 40; }
    renderRows();
  }
  $("log-list").addEventListener("scroll", () => { if (filtered.length > 3000) renderRows(); });
  for (const id of ["f-dir", "f-type", "f-text"]) $(id).addEventListener("input", () => { if (EV) applyFilter(); });

  // ------------------------------------------------------------------ start
  renderHeader();
  draw();
  performance.mark("rtc-timeline-painted");
  renderConversation();
  renderList("violations", M.violations);
  renderDiff();
  requestAnimationFrame(() => setTimeout(() => {
    EV = JSON.parse(document.getElementById("rtc-events").textContent);
    for (const e of EV) e[3] = M.event_types[e[3]];
    applyFilter();
    document.body.dataset.ready = "1";
  }, 0));
})();
