/*! counter widget: visitor statistics and polls for any page. No dependencies.
 * <script async src="https://counter.example.org/widget.js" data-site="demo" data-lang="vi"></script>
 * Placeholders: data-counter="stats" | "poll" | "page-views". See docs/widget.md. */
(() => {
  "use strict";
  const W = window, D = document;
  if (W.CounterWidget) { W.CounterWidget.scan(); return; }
  const me = D.currentScript || D.querySelector("script[data-site][src*='widget']");
  if (!me || !me.dataset.site) return;
  const cfg = me.dataset, site = cfg.site;
  const api = (cfg.api || new URL(me.src, location.href).origin).replace(/\/+$/, "");
  const counting = cfg.count !== "false";
  const every = Math.max(1, Number(cfg.heartbeat) || 60) * 1000;
  const lang = cfg.lang || D.documentElement.lang || "vi";
  const member = cfg.memberToken || undefined;

  const LABELS = {
    vi: {
      title: "Thống kê truy cập", online: "Người trực tuyến", guests: "Khách",
      members: "Thành viên", total: "Tổng", today: "Hôm nay", yesterday: "Hôm qua",
      week: "Tuần này", month: "Tháng này", all: "Tổng lượt truy cập", poll: "Bình chọn",
      none: "Hiện tại không có bình chọn nào đang hoạt động.", vote: "Bình chọn",
      upto: "Chọn tối đa %n phương án", pick: "Vui lòng chọn một phương án.",
      thanks: "Cảm ơn bạn đã bình chọn.", voted: "Bạn đã bình chọn.", voters: "Số người bình chọn",
      later: "Kết quả sẽ được công bố sau.", closed: "Cuộc bình chọn đã kết thúc.",
      soon: "Cuộc bình chọn chưa bắt đầu.", busy: "Bạn thao tác quá nhanh, vui lòng thử lại sau.",
      failed: "Chưa gửi được, vui lòng thử lại.",
    },
    en: {
      title: "Visitor statistics", online: "Online now", guests: "Guests", members: "Members",
      total: "Total", today: "Today", yesterday: "Yesterday", week: "This week",
      month: "This month", all: "Total visits", poll: "Poll",
      none: "There is no active poll at the moment.", vote: "Vote",
      upto: "Choose up to %n options", pick: "Please choose an option.",
      thanks: "Thank you for voting.", voted: "You have voted.", voters: "Voters",
      later: "Results will be published later.", closed: "This poll is closed.",
      soon: "This poll has not started yet.", busy: "Too many attempts, please try again later.",
      failed: "Could not send, please try again.",
    },
  };
  const L = LABELS[lang.toLowerCase().split("-")[0]] || LABELS.en;
  const intl = (opts) => {
    try { return new Intl.NumberFormat(lang, opts); } catch (e) { return new Intl.NumberFormat("vi", opts); }
  };
  const nf = intl(), pf = intl({ style: "percent", maximumFractionDigits: 1 });
  const num = (n) => (typeof n === "number" ? nf.format(n) : "–");
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const enc = encodeURIComponent;
  const noop = () => {};

  // Storage may be blocked (privacy settings, sandboxed frames): every access is guarded.
  const store = {
    get(k) { try { return W.localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { W.localStorage.setItem(k, v); } catch (e) { /* memory only */ } },
  };
  const newId = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode.apply(null, b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  let visitor = store.get("counter.visitor");
  if (!/^[\w-]{8,64}$/.test(visitor || "")) { visitor = newId(); store.set("counter.visitor", visitor); }

  // Last known numbers, kept across page loads so an unreachable service shows them, not an error.
  const cacheKey = "counter.stats." + site;
  let stats = null, views = {};
  try { const c = JSON.parse(store.get(cacheKey)); if (c) { stats = c.s; views = c.v || {}; } } catch (e) { /* none */ }
  const keep = () => store.set(cacheKey, JSON.stringify({ s: stats, v: views }));

  const request = (path, body) => fetch(api + path, body === undefined ? { credentials: "omit" } : {
    method: "POST", credentials: "omit", body: JSON.stringify(body),
    headers: { "Content-Type": "text/plain" }, // a simple request: no CORS preflight
  });
  const json = (path, body) => request(path, body).then((r) => (r.ok ? r.json() : Promise.reject(r)));
  const presence = () => ({ site, visitor, member });
  const who = "visitor=" + enc(visitor) + (member ? "&member=" + enc(member) : "");
  // The page as the service stores it (counting/pages.py): no fragment, tracking parameters,
  // repeated or trailing slashes; parameters sorted. An id such as "article:123" is kept.
  const TRACK = /^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|_ga|zarsrc)$/;
  const pageKey = (raw) => {
    const t = raw.trim(), m = /^(?:[^:/?#]+:\/\/[^/?#]*)?([^?#]*)\??([^#]*)/.exec(t);
    if (!/^\/|:\/\//.test(t)) return t;
    const q = Array.from(new URLSearchParams(m[2])).filter((e) => !TRACK.test(e[0]))
      .sort((a, b) => (a[0] + "\0" + a[1] < b[0] + "\0" + b[1] ? -1 : 1));
    return (m[1].replace(/\/+/g, "/").replace(/(.)\/$/, "$1") || "/") + (q.length ? "?" + new URLSearchParams(q) : "");
  };
  const pageNow = () => pageKey(me.getAttribute("data-page") || location.pathname + location.search).slice(0, 512);

  // ---- rendering -------------------------------------------------------------------------
  const CSS = `:host{all:initial!important;display:block!important}
:host([data-counter=page-views]){all:unset!important;display:inline!important}
*{box-sizing:border-box}
.box{font:var(--counter-font-size,14px)/1.5 var(--counter-font,system-ui,"Segoe UI",Roboto,Arial,sans-serif);color:var(--counter-fg,#1f2937);background:var(--counter-bg,#fff);border:1px solid var(--counter-border,#d3dce6);border-radius:var(--counter-radius,4px);overflow:hidden;text-align:left}
h2{margin:0;padding:8px 12px;font-size:1.05em;font-weight:700;color:var(--counter-title-fg,#fff);background:var(--counter-title-bg,#1b5fa6)}
h3{margin:0 0 6px;font-size:1em}
.in{padding:8px 12px}
dl{margin:0}dl div{display:flex;justify-content:space-between;gap:1em;padding:2px 0;border-bottom:1px dotted var(--counter-border,#d3dce6)}
dt,dd{margin:0}dd{font-weight:600;font-variant-numeric:tabular-nums}
.sub{padding-left:1em}.grp{font-weight:600;padding:2px 0}
fieldset{border:0;margin:0;padding:0;min-width:0}legend{font-weight:600;padding:0;margin-bottom:6px}
label{display:flex;gap:.5em;align-items:baseline;padding:3px 0;cursor:pointer}
button{font:inherit;margin-top:6px;padding:4px 16px;border:0;border-radius:3px;cursor:pointer;color:var(--counter-accent-fg,#fff);background:var(--counter-accent,#1b5fa6)}
button[disabled]{opacity:.6;cursor:default}
:focus-visible{outline:2px solid var(--counter-focus,#e8a317);outline-offset:2px}
ul{list-style:none;margin:8px 0 0;padding:0}li{margin:0 0 6px}
.row{display:flex;justify-content:space-between;gap:1em}
.bar{display:block;height:6px;margin-top:2px;border-radius:3px;overflow:hidden;background:var(--counter-track,#e3e8ef)}
.bar i{display:block;height:100%;background:var(--counter-accent,#1b5fa6);transition:width .4s ease}
.muted,.msg{color:var(--counter-muted,#5b6573);font-size:.92em;margin:6px 0 0}.msg:empty{display:none}
.poll+.poll{margin-top:12px;padding-top:10px;border-top:1px solid var(--counter-border,#d3dce6)}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}`;
  let sheet = null;
  try { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); } catch (e) { sheet = null; }
  const shadow = (host, html) => {
    const root = host.shadowRoot || host.attachShadow({ mode: "open" });
    if (sheet) { root.adoptedStyleSheets = [sheet]; root.innerHTML = html; }
    else root.innerHTML = "<style>" + CSS + "</style>" + html;
    return root;
  };
  const box = (title, inner) =>
    `<div class="box" part="box" role="region" aria-labelledby="t"><h2 id="t" part="title">${title}</h2><div class="in">${inner}</div></div>`;
  const row = (label, key) => `<div><dt>${label}</dt><dd data-k="${key}">–</dd></div>`;

  const mountStats = (host) => {
    const root = shadow(host, box(L.title, `<div class="grp">${L.online}</div><dl class="sub">${
      row(L.guests, "online.guests") + row(L.members, "online.members") + row(L.total, "online.total")
    }</dl><dl>${row(L.today, "visits.today") + row(L.yesterday, "visits.yesterday") +
      row(L.week, "visits.this_week") + row(L.month, "visits.this_month") + row(L.all, "visits.total")}</dl>`));
    const cells = root.querySelectorAll("dd");
    return { paint: () => cells.forEach((dd) => {
      dd.textContent = num(dd.dataset.k.split(".").reduce((o, k) => (o ? o[k] : undefined), stats));
    }) };
  };

  const mountViews = (host) => {
    const span = shadow(host, `<span part="count">–</span>`).firstChild;
    return { paint: () => { span.textContent = num(views[host.getAttribute("data-page") || counted]); } };
  };

  // ---- polls ---------------------------------------------------------------------------
  const mountPoll = (host) => {
    const body = shadow(host, box(L.poll, "")).querySelector(".in");
    const shown = {}; // poll id -> {el, open, es}
    let gone = false; // the placeholder left the page
    const empty = () => { if (!body.querySelector(".poll")) body.innerHTML = `<p class="muted">${L.none}</p>`; };
    const only = host.getAttribute("data-poll");
    const load = only
      ? json(`/v1/polls/${enc(only)}?${who}`).then((p) => [p])
      : json(`/v1/polls?site=${enc(site)}&${who}`).then((r) => r.polls);
    load.then((list) => {
      if (!Array.isArray(list) || !list.length) return empty();
      body.innerHTML = "";
      list.forEach((p) => show(p));
    }, empty);

    const show = (p) => {
      let s = shown[p.id];
      if (!s) {
        const el = D.createElement("div");
        el.className = "poll";
        el.innerHTML = `<div class="f"></div><div class="r"></div><p class="msg" role="status" aria-live="polite"></p>`;
        body.appendChild(el);
        s = shown[p.id] = { el, open: null, es: null };
        el.addEventListener("submit", (e) => { e.preventDefault(); vote(p.id, s); });
        el.addEventListener("change", () => limit(s));
      }
      const open = p.state === "open" && !p.voted;
      if (open !== s.open) { s.open = open; s.el.firstChild.innerHTML = form(p, open); s.max = p.max_choices || 1; }
      s.el.children[1].innerHTML = p.results ? results(p) : "";
      s.el.querySelectorAll("i[data-w]").forEach((i) => { i.style.width = i.dataset.w + "%"; });
      const note = p.state === "closed" ? L.closed : p.state === "scheduled" ? L.soon : p.voted && !p.results ? L.later : "";
      if (note) s.el.lastChild.textContent = note;
      live(p, s);
    };
    const form = (p, open) => {
      if (!open) return `<h3>${esc(p.question)}</h3>`;
      const multi = p.max_choices > 1;
      return `<form><fieldset><legend>${esc(p.question)}</legend>${p.options.map((o) =>
        `<label><input type="${multi ? "checkbox" : "radio"}" name="o" value="${esc(o.id)}"><span>${esc(o.text)}</span></label>`
      ).join("")}${multi ? `<p class="muted">${L.upto.replace("%n", num(p.max_choices))}</p>` : ""}<button type="submit">${L.vote}</button></fieldset></form>`;
    };
    const results = (p) => {
      const votes = p.results.votes || {}, voters = p.results.voters || 0;
      return `<ul>${p.options.map((o) => {
        const n = votes[o.id] || 0, share = voters ? n / voters : 0;
        return `<li><span class="row"><span>${esc(o.text)}</span><span>${num(n)} (${pf.format(share)})</span></span><span class="bar" aria-hidden="true"><i data-w="${Math.round(share * 1000) / 10}"></i></span></li>`;
      }).join("")}</ul><p class="muted">${L.voters}: ${num(voters)}</p>`;
    };
    const limit = (s) => {
      const boxes = s.el.querySelectorAll("input[type=checkbox]");
      const full = s.el.querySelectorAll("input:checked").length >= s.max;
      boxes.forEach((b) => { b.disabled = full && !b.checked; });
    };
    const refetch = (id) => json(`/v1/polls/${enc(id)}?${who}`).then(show, noop);
    const vote = (id, s) => {
      const msg = s.el.lastChild, btn = s.el.querySelector("button");
      const options = Array.from(s.el.querySelectorAll("input:checked"), (i) => i.value);
      if (!options.length) { msg.textContent = L.pick; return; }
      btn.disabled = true;
      request(`/v1/polls/${enc(id)}/vote`, { visitor, options, member }).then((r) => {
        btn.disabled = false;
        if (r.ok) return r.json().then((p) => { show(p); msg.textContent = L.thanks; });
        msg.textContent = r.status === 409 ? L.voted : r.status === 429 ? L.busy : L.failed;
        if (r.status === 409 || r.status === 403) refetch(id);
      }).catch(() => { btn.disabled = false; msg.textContent = L.failed; });
    };
    const live = (p, s) => {
      if (gone || p.state !== "open" || !p.results || s.es || !W.EventSource) {
        if (p.state === "closed" && s.es) { s.es.close(); s.es = null; }
        return;
      }
      s.es = new EventSource(`${api}/v1/polls/${enc(p.id)}/events?${who}`);
      const update = (e) => {
        if (!host.isConnected) return prune();
        try { show(JSON.parse(e.data)); } catch (err) { /* ignore a bad event */ }
      };
      s.es.onmessage = update;
      s.es.addEventListener("poll", update);
      s.es.addEventListener("deleted", () => { s.es.close(); s.el.remove(); delete shown[p.id]; empty(); });
    };
    return { stop: () => { gone = true; Object.values(shown).forEach((s) => { if (s.es) s.es.close(); s.es = null; }); } };
  };

  // ---- mounting --------------------------------------------------------------------------
  const KINDS = { stats: mountStats, "page-views": mountViews, poll: mountPoll };
  const seen = new WeakSet();
  let painters = [];
  const paint = () => painters.forEach((w) => w.paint && w.paint());
  // Placeholders no longer in the document are let go (live streams closed; mounted afresh if put back).
  const prune = () => {
    painters = painters.filter((w) => {
      if (w.host.isConnected) return true;
      if (w.stop) w.stop();
      seen.delete(w.host);
      return false;
    });
  };
  const scan = () => {
    prune();
    const wanted = [];
    D.querySelectorAll("[data-counter]").forEach((host) => {
      const make = KINDS[host.getAttribute("data-counter")];
      if (!make || seen.has(host)) return;
      seen.add(host);
      let w = null;
      try { w = make(host); } catch (e) { return; } // e.g. an element that cannot host a shadow root
      w.host = host;
      painters.push(w);
      if (w.paint) w.paint();
      const p = host.getAttribute("data-page");
      if (p && host.getAttribute("data-counter") === "page-views" && p !== counted) wanted.push(p);
    });
    read(wanted);
  };

  // GET /v1/stats for pages shown but not counted here (listing pages), 50 per request.
  const read = (pages) => {
    for (let i = 0; i < pages.length; i += 50) {
      const chunk = Array.from(new Set(pages.slice(i, i + 50)));
      json(`/v1/stats?site=${enc(site)}${chunk.map((p) => "&page=" + enc(p)).join("")}`).then((r) => {
        const got = Object.values(r.pages || {});
        chunk.forEach((p, j) => { if (p in r.pages) views[p] = r.pages[p]; else if (got.length === chunk.length) views[p] = got[j]; });
        // A listing read may be answered before this page's hit is written: it fills in
        // page counts, and the site's numbers only while there are none yet.
        if (!stats) stats = r;
        keep(); paint();
      }, noop);
    }
  };

  // ---- counting --------------------------------------------------------------------------
  // here: the current entry's page; counted: the last hit's (differs after a replaceState).
  let here = null, counted = null, previous = D.referrer, timer = 0, last = 0;
  const took = (page) => (r) => {
    stats = r;
    if (page) { const v = Object.values(r.pages || {}); if (v.length) views[page] = v[0]; }
    keep(); paint();
  };
  const count = () => {
    const page = pageNow();
    if (page === here) return;
    here = counted = page; last = Date.now();
    const title = D.title.slice(0, 300), referrer = previous.slice(0, 2048);
    previous = location.href;
    const sent = counting
      ? json("/v1/hit", { site, page, visitor, member, title: title || undefined, referrer: referrer || undefined })
      : json(`/v1/stats?site=${enc(site)}&page=${enc(page)}`);
    sent.then(took(page), noop).then(schedule);
  };
  const schedule = () => {
    clearTimeout(timer);
    if (D.visibilityState === "visible") timer = setTimeout(beat, every);
  };
  const beat = () => {
    last = Date.now();
    prune();
    (counting ? json("/v1/ping", presence()) : json(`/v1/stats?site=${enc(site)}`))
      .then(took(null), noop).then(schedule);
  };
  D.addEventListener("visibilitychange", () => {
    if (D.visibilityState === "visible" && Date.now() - last >= every) beat(); else schedule();
  });
  let channel = null;
  try { channel = new BroadcastChannel("counter." + site); } catch (e) { /* old browser */ }
  // Another tab of this visitor left: it told the service so, but this tab is still open.
  if (channel) channel.onmessage = () => { if (D.visibilityState === "visible") { clearTimeout(timer); timer = setTimeout(beat, 1000); } };
  W.addEventListener("pagehide", () => {
    if (!counting) return;
    if (navigator.sendBeacon) navigator.sendBeacon(api + "/v1/leave", JSON.stringify(presence()));
    if (channel) channel.postMessage("leave");
  });
  W.addEventListener("pageshow", (e) => { if (e.persisted) beat(); });

  // Single-page apps: pushState or popstate to a different page counts it. replaceState only
  // rewrites the current entry (tracking parameters dropped, ?q= state): not a page view, unless
  // it rewrites an entry not yet counted (a pushState or popstate earlier in the same task).
  const navigated = () => setTimeout(() => { count(); scan(); }, 0);
  const pushState = history.pushState, replaceState = history.replaceState;
  history.pushState = function () { const r = pushState.apply(this, arguments); navigated(); return r; };
  history.replaceState = function () {
    const was = pageNow(), r = replaceState.apply(this, arguments);
    if (was === here) { here = pageNow(); previous = location.href; }
    setTimeout(scan, 0);
    return r;
  };
  W.addEventListener("popstate", navigated);

  W.CounterWidget = { scan, count, visitor: () => visitor };
  count();
  if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", scan); else scan();
})();
