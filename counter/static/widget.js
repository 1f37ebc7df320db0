/*! counter widget: visitor statistics and polls for any page. No dependencies.
 * <script async src="https://counter.example.org/widget.js" data-site="demo" data-lang="vi"></script>
 * Placeholders: data-counter="stats" | "poll" | "page-views". See docs/widget.md. */

// This file is the readable source; /widget.js serves it minified (counter/web/static.py), with
// comments and indentation dropped and names kept. The minifier (rjsmin) keeps a template
// literal intact only when no other template literal is nested in it: never nest them here.
(() => {
  "use strict";
  if (window.CounterWidget) {
    window.CounterWidget.scan(); // the script is on the page twice: the first copy does the work
    return;
  }
  const script = document.currentScript || document.querySelector("script[data-site][src*='widget']");
  if (!script || !script.dataset.site) return;

  // ---- settings, from the script tag's data-* attributes ---------------------------------
  const settings = script.dataset;
  const site = settings.site;
  const apiBase = (settings.api || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  const counting = settings.count !== "false";
  const heartbeatMs = Math.max(1, Number(settings.heartbeat) || 60) * 1000;
  const language = settings.lang || document.documentElement.lang || "vi";
  const memberToken = settings.memberToken || undefined;

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
  const labels = LABELS[language.toLowerCase().split("-")[0]] || LABELS.en;
  const numberFormat = makeNumberFormat();
  const percentFormat = makeNumberFormat({ style: "percent", maximumFractionDigits: 1 });
  const encode = encodeURIComponent;

  // A number format for the page's language, Vietnamese when the browser does not know it.
  function makeNumberFormat(options) {
    try {
      return new Intl.NumberFormat(language, options);
    } catch (error) {
      return new Intl.NumberFormat("vi", options);
    }
  }

  // A count as text in the reader's format, or a dash while it is not known.
  function formatNumber(value) {
    return typeof value === "number" ? numberFormat.format(value) : "–";
  }

  // Text made safe to put inside HTML markup and attribute values.
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (char) => "&#" + char.charCodeAt(0) + ";");
  }

  // Swallows a failed request: failures are silent and the last numbers stay on screen.
  function ignore() {}

  // ---- storage: may be blocked (privacy settings, sandboxed frames), so always guarded ------
  // The stored value under key, or null when there is none or storage is blocked.
  function readStorage(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (error) {
      return null;
    }
  }

  // Stores a value when storage allows it; otherwise it lives in memory for this page only.
  function writeStorage(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (error) {
      // memory only
    }
  }

  // A new visitor id: 128 random bits in base64url.
  function newVisitorId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const base64 = btoa(String.fromCharCode.apply(null, bytes));
    return base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // This browser's visitor id, made and stored on its first visit.
  function loadVisitor() {
    const stored = readStorage("counter.visitor");
    if (/^[\w-]{8,64}$/.test(stored || "")) return stored;
    const made = newVisitorId();
    writeStorage("counter.visitor", made);
    return made;
  }

  const visitor = loadVisitor();
  const cacheKey = "counter.stats." + site;
  let stats = null; // the site's last stats answer
  let views = {}; // page -> its view count, as last heard
  loadCachedNumbers();

  // Last known numbers, kept across page loads, so an unreachable service shows them.
  function loadCachedNumbers() {
    try {
      const cached = JSON.parse(readStorage(cacheKey));
      if (cached) {
        stats = cached.s; // "s" and "v": the stored format, kept for caches already out there
        views = cached.v || {};
      }
    } catch (error) {
      // nothing cached, or not readable
    }
  }

  // Keeps the numbers on screen for the next page load.
  function saveCachedNumbers() {
    writeStorage(cacheKey, JSON.stringify({ s: stats, v: views }));
  }

  // ---- requests ---------------------------------------------------------------------------
  // A GET, or a POST of body as JSON sent as text/plain: a simple request, with no CORS preflight.
  // A member's poll reads (asMember) carry the token in a header, never in the URL.
  function request(path, body, asMember) {
    const options = { credentials: "omit" };
    if (body !== undefined) {
      options.method = "POST";
      options.body = JSON.stringify(body);
      options.headers = { "Content-Type": "text/plain" };
    } else if (asMember && memberToken) {
      options.headers = { "X-Counter-Member": memberToken };
    }
    return fetch(apiBase + path, options);
  }

  // The JSON answer of a request, rejected on any status but 2xx.
  function requestJson(path, body, asMember) {
    return request(path, body, asMember).then((response) => (response.ok ? response.json() : Promise.reject(response)));
  }

  // A poll read as this reader: the visitor id in the query, the member token in a header.
  function readPolls(path) {
    return requestJson(path + "visitor=" + encode(visitor), undefined, true);
  }

  // The body of a ping or leave: who is (or no longer is) on the site.
  function presence() {
    return { site, visitor, member: memberToken };
  }

  // GET /v1/stats (or its live stream, tail "/events") for the site and the given pages, counting nothing.
  function statsPath(pages, tail) {
    return "/v1/stats" + (tail || "") + "?site=" + encode(site) + pages.map((page) => "&page=" + encode(page)).join("");
  }

  // ---- page names, as the service stores them (counter/counting/pages.py is the reference) ---
  // Query parameters that only tell where a reader came from.
  const TRACKING_PARAMETER = /^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|_ga|zarsrc)$/;
  // The "scheme://host" start of a full URL.
  const URL_ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
  // Blanks at either end: exactly the characters Python's str.strip() removes.
  const BLANK = "[\\t-\\r\\x1c- \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  const BLANK_ENDS = new RegExp("^" + BLANK + "+|" + BLANK + "+$", "g");

  // "https://x.vn/news//a/?utm_source=z&id=1#top" -> "/news/a?id=1": a URL or path loses its
  // origin, fragment, tracking parameters, repeated and trailing slashes, and its parameters are
  // sorted. Any other text (an explicit id such as "article:123") is kept as it is.
  function pageName(raw) {
    const text = String(raw).replace(BLANK_ENDS, "");
    const origin = URL_ORIGIN.exec(text);
    if (!origin && text[0] !== "/") return text;
    const address = text.slice(origin ? origin[0].length : 0).split("#")[0];
    const queryStart = address.indexOf("?");
    const path = queryStart < 0 ? address : address.slice(0, queryStart);
    const query = queryStart < 0 ? "" : cleanQuery(address.slice(queryStart + 1));
    const cleanPath = path.replace(/\/+/g, "/").replace(/(.)\/$/, "$1") || "/";
    return query ? cleanPath + "?" + query : cleanPath;
  }

  // A query without tracking parameters, sorted by name then value, encoded as Python's urlencode.
  function cleanQuery(query) {
    // The leading "&" keeps a "?" that starts the query a part of the first name.
    const pairs = Array.from(new URLSearchParams("&" + query));
    const kept = pairs.filter((pair) => !TRACKING_PARAMETER.test(pair[0]));
    kept.sort((left, right) => compareCodePoints(left[0], right[0]) || compareCodePoints(left[1], right[1]));
    return kept.map((pair) => formEncode(pair[0]) + "=" + formEncode(pair[1])).join("&");
  }

  // Percent-encodes as Python's quote_plus: letters, digits and "_.-~" stay, a space is "+".
  function formEncode(text) {
    const hex = (char) => "%" + char.charCodeAt(0).toString(16).toUpperCase();
    return encode(text).replace(/[!'()*]/g, hex).replace(/%20/g, "+");
  }

  // Orders two strings by code point, as Python does ("<" would compare UTF-16 units).
  function compareCodePoints(left, right) {
    const leftPoints = Array.from(left, (char) => char.codePointAt(0));
    const rightPoints = Array.from(right, (char) => char.codePointAt(0));
    for (let index = 0; index < leftPoints.length && index < rightPoints.length; index++) {
      if (leftPoints[index] !== rightPoints[index]) return leftPoints[index] - rightPoints[index];
    }
    return leftPoints.length - rightPoints.length;
  }

  // This page's name: the script's data-page, else the address; at most 512 characters.
  function currentPageName() {
    const name = pageName(script.getAttribute("data-page") || location.pathname + location.search);
    return Array.from(name).slice(0, 512).join("");
  }

  // ---- rendering --------------------------------------------------------------------------
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
  const sheet = makeStyleSheet();

  // The styles as a constructable sheet (not blocked by a strict style-src), null where unsupported.
  function makeStyleSheet() {
    try {
      const made = new CSSStyleSheet();
      made.replaceSync(CSS);
      return made;
    } catch (error) {
      return null;
    }
  }

  // Renders html in host's open shadow root, with the widget's styles, and answers the root.
  function renderInShadow(host, html) {
    const root = host.shadowRoot || host.attachShadow({ mode: "open" });
    if (sheet) {
      root.adoptedStyleSheets = [sheet];
      root.innerHTML = html;
    } else {
      root.innerHTML = "<style>" + CSS + "</style>" + html;
    }
    return root;
  }

  // The frame of the stats and poll boxes: a titled region.
  function boxHtml(title, inner) {
    const heading = `<h2 id="t" part="title">${title}</h2>`;
    return `<div class="box" part="box" role="region" aria-labelledby="t">${heading}<div class="in">${inner}</div></div>`;
  }

  // One line of the stats box; key is the number's path in the stats answer.
  function statRowHtml(label, key) {
    return `<div><dt>${label}</dt><dd data-k="${key}">–</dd></div>`;
  }

  // The stats box: who is online, visits by period, and the all-time total.
  function mountStats(host) {
    const online = statRowHtml(labels.guests, "online.guests") +
      statRowHtml(labels.members, "online.members") +
      statRowHtml(labels.total, "online.total");
    const visits = statRowHtml(labels.today, "visits.today") +
      statRowHtml(labels.yesterday, "visits.yesterday") +
      statRowHtml(labels.week, "visits.this_week") +
      statRowHtml(labels.month, "visits.this_month") +
      statRowHtml(labels.all, "visits.total");
    const inner = `<div class="grp">${labels.online}</div><dl class="sub">${online}</dl><dl>${visits}</dl>`;
    const cells = renderInShadow(host, boxHtml(labels.title, inner)).querySelectorAll("dd");
    const paint = () => cells.forEach((cell) => { cell.textContent = formatNumber(statAt(cell.dataset.k)); });
    return { paint };
  }

  // The number at a dotted path ("visits.today") of the last stats answer, if any.
  function statAt(path) {
    return path.split(".").reduce((value, key) => (value ? value[key] : undefined), stats);
  }

  // A page's view count: its own data-page's, else the page counted here.
  function mountPageViews(host) {
    const span = renderInShadow(host, `<span part="count">–</span>`).firstChild;
    const paint = () => { span.textContent = formatNumber(views[host.getAttribute("data-page") || countedPage]); };
    return { paint };
  }

  // ---- polls ------------------------------------------------------------------------------
  // An open poll's form: question as legend, one labelled radio (or checkbox) per option.
  function pollFormHtml(poll) {
    const multiple = poll.max_choices > 1;
    const options = poll.options.map((option) => optionHtml(option, multiple)).join("");
    const upTo = labels.upto.replace("%n", formatNumber(poll.max_choices));
    const hint = multiple ? `<p class="muted">${upTo}</p>` : "";
    const legend = `<legend>${escapeHtml(poll.question)}</legend>`;
    return `<form><fieldset>${legend}${options}${hint}<button type="submit">${labels.vote}</button></fieldset></form>`;
  }

  // One option of a poll's form.
  function optionHtml(option, multiple) {
    const type = multiple ? "checkbox" : "radio";
    const input = `<input type="${type}" name="o" value="${escapeHtml(option.id)}">`;
    return `<label>${input}<span>${escapeHtml(option.text)}</span></label>`;
  }

  // A poll's results as text (votes and share per option, voters); the bars are decoration.
  function pollResultsHtml(poll) {
    const votes = poll.results.votes || {};
    const voters = poll.results.voters || 0;
    const rows = poll.options.map((option) => resultRowHtml(option, votes[option.id] || 0, voters)).join("");
    return `<ul>${rows}</ul><p class="muted">${labels.voters}: ${formatNumber(voters)}</p>`;
  }

  // One option's result line; its bar's width is set after rendering (no inline style attribute).
  function resultRowHtml(option, count, voters) {
    const share = voters ? count / voters : 0;
    const figures = `${formatNumber(count)} (${percentFormat.format(share)})`;
    const text = `<span class="row"><span>${escapeHtml(option.text)}</span><span>${figures}</span></span>`;
    const width = Math.round(share * 1000) / 10;
    return `<li>${text}<span class="bar" aria-hidden="true"><i data-w="${width}"></i></span></li>`;
  }

  // The note under a poll that cannot take this reader's vote now, or "".
  function pollNote(poll) {
    if (poll.state === "closed") return labels.closed;
    if (poll.state === "scheduled") return labels.soon;
    return poll.voted && !poll.results ? labels.later : "";
  }

  // Disables the unchecked boxes once a poll's max_choices are checked.
  function limitChoices(entry) {
    const full = entry.element.querySelectorAll("input:checked").length >= entry.maxChoices;
    entry.element.querySelectorAll("input[type=checkbox]").forEach((box) => {
      box.disabled = full && !box.checked;
    });
  }

  // The poll box: the site's active polls (or the one of data-poll), voting, live results.
  function mountPoll(host) {
    const body = renderInShadow(host, boxHtml(labels.poll, "")).querySelector(".in");
    const entries = {}; // poll id -> {element, formSlot, resultsSlot, message, open, maxChoices, stream}
    let released = false; // the placeholder left the page
    const onePoll = host.getAttribute("data-poll");
    const loaded = onePoll
      ? readPolls(`/v1/polls/${encode(onePoll)}?`).then((poll) => [poll])
      : readPolls(`/v1/polls?site=${encode(site)}&`).then((answer) => answer.polls);
    loaded.then(showPolls, showEmptyText);

    // Shows the polls read, or the empty text when there are none.
    function showPolls(polls) {
      if (!Array.isArray(polls) || !polls.length) return showEmptyText();
      body.innerHTML = "";
      polls.forEach(showPoll);
    }

    // "No active poll", once the box holds no poll.
    function showEmptyText() {
      if (!body.querySelector(".poll")) body.innerHTML = `<p class="muted">${labels.none}</p>`;
    }

    // The box's entry for a poll, made (and added to the box) on first sight.
    function entryFor(pollId) {
      if (entries[pollId]) return entries[pollId];
      const element = document.createElement("div");
      element.className = "poll";
      element.innerHTML = `<div></div><div></div><p class="msg" role="status" aria-live="polite"></p>`;
      body.appendChild(element);
      const [formSlot, resultsSlot, message] = element.children;
      const entry = { element, formSlot, resultsSlot, message, open: null, maxChoices: 1, stream: null };
      entries[pollId] = entry;
      element.addEventListener("submit", (event) => { event.preventDefault(); sendVote(pollId, entry); });
      element.addEventListener("change", () => limitChoices(entry));
      return entry;
    }

    // Shows a poll as it now is: its form while this reader may vote, results, and a note.
    function showPoll(poll) {
      const entry = entryFor(poll.id);
      const open = poll.state === "open" && !poll.voted;
      if (open !== entry.open) {
        entry.open = open;
        entry.formSlot.innerHTML = open ? pollFormHtml(poll) : `<h3>${escapeHtml(poll.question)}</h3>`;
        entry.maxChoices = poll.max_choices || 1;
      }
      entry.resultsSlot.innerHTML = poll.results ? pollResultsHtml(poll) : "";
      entry.resultsSlot.querySelectorAll("i[data-w]").forEach((bar) => { bar.style.width = bar.dataset.w + "%"; });
      const note = pollNote(poll);
      if (note) entry.message.textContent = note;
      followLive(poll, entry);
    }

    // Reads a poll again (after a refused vote), so the box shows its true state.
    function reloadPoll(pollId) {
      readPolls(`/v1/polls/${encode(pollId)}?`).then(showPoll, ignore);
    }

    // Sends the checked options as this reader's vote and shows the answer.
    function sendVote(pollId, entry) {
      const button = entry.element.querySelector("button");
      const options = Array.from(entry.element.querySelectorAll("input:checked"), (input) => input.value);
      if (!options.length) {
        entry.message.textContent = labels.pick;
        return;
      }
      button.disabled = true;
      const vote = { visitor, options, member: memberToken };
      request(`/v1/polls/${encode(pollId)}/vote`, vote).then((response) => {
        button.disabled = false;
        if (response.ok) return response.json().then((poll) => showVoted(poll, entry));
        entry.message.textContent = voteRefusal(response.status);
        if (response.status === 409 || response.status === 403) reloadPoll(pollId);
      }).catch(() => {
        button.disabled = false;
        entry.message.textContent = labels.failed;
      });
    }

    // Shows the poll as the vote left it, and thanks the reader.
    function showVoted(poll, entry) {
      showPoll(poll);
      entry.message.textContent = labels.thanks;
    }

    // Follows an open poll's visible results live (Server-Sent Events); closes the stream once it is closed.
    function followLive(poll, entry) {
      if (released || poll.state !== "open" || !poll.results || entry.stream || !window.EventSource) {
        if (poll.state === "closed" && entry.stream) {
          entry.stream.close();
          entry.stream = null;
        }
        return;
      }
      const pending = { close: () => { pending.closed = true; } }; // holds the place while the URL is made
      entry.stream = pending;
      streamUrl(poll.id).then((url) => pending.closed || openStream(poll, entry, url), () => followAgain(poll, entry, pending));
    }

    // A stream's URL: a member's carries a ticket for one stream (never the token), a guest's the visitor id.
    function streamUrl(pollId) {
      const path = "/v1/polls/" + encode(pollId);
      if (!memberToken) return Promise.resolve(`${apiBase}${path}/events?visitor=${encode(visitor)}`);
      return requestJson(path + "/ticket", { visitor, member: memberToken })
        .then((answer) => `${apiBase}${path}/events?ticket=${encode(answer.ticket)}`);
    }

    // Opens a poll's stream. The browser reconnects by itself when the service ends it; a stream
    // it cannot resume (refused, or its ticket used) is followed anew, after a growing pause.
    function openStream(poll, entry, url) {
      const stream = new EventSource(url);
      entry.stream = stream;
      stream.onopen = () => { entry.failures = 0; };
      stream.onerror = () => stream.readyState === 2 && followAgain(poll, entry, stream);
      stream.onmessage = showEvent;
      stream.addEventListener("poll", showEvent);
      stream.addEventListener("deleted", () => {
        stream.close();
        entry.element.remove();
        delete entries[poll.id];
        showEmptyText();
      });
    }

    // Follows a poll again, 2, 4, 8 ... up to 64 s after its stream failed for good.
    function followAgain(poll, entry, stream) {
      if (entry.stream !== stream) return;
      stream.close();
      entry.stream = null;
      entry.failures = Math.min((entry.failures || 0) + 1, 6);
      setTimeout(() => followLive(poll, entry), 1000 << entry.failures);
    }

    // Shows a poll sent live; a box no longer in the page lets every detached placeholder go.
    function showEvent(event) {
      if (!host.isConnected) return releaseDetached();
      try {
        showPoll(JSON.parse(event.data));
      } catch (error) {
        // ignore a bad event
      }
    }

    // Closes every live stream of this box: it left the page.
    function release() {
      released = true;
      Object.values(entries).forEach((entry) => {
        if (entry.stream) entry.stream.close();
        entry.stream = null;
      });
    }

    return { stop: release };
  }

  // The message for a vote the service refused, by its status.
  function voteRefusal(status) {
    if (status === 409) return labels.voted;
    return status === 429 ? labels.busy : labels.failed;
  }

  // ---- placeholders -----------------------------------------------------------------------
  const MOUNTERS = { stats: mountStats, "page-views": mountPageViews, poll: mountPoll };
  const mountedHosts = new WeakSet();
  let mounted = []; // {host, paint?, stop?} per placeholder rendered

  // Repaints every placeholder from the latest numbers.
  function paintAll() {
    mounted.forEach((widget) => widget.paint && widget.paint());
  }

  // Lets go of placeholders no longer in the document (streams closed; mounted afresh if put back).
  function releaseDetached() {
    mounted = mounted.filter((widget) => {
      if (widget.host.isConnected) return true;
      if (widget.stop) widget.stop();
      mountedHosts.delete(widget.host);
      return false;
    });
  }

  // Renders every placeholder not yet rendered, and reads the counts of other pages they show.
  function scan() {
    releaseDetached();
    const otherPages = [];
    document.querySelectorAll("[data-counter]").forEach((host) => {
      const kind = host.getAttribute("data-counter");
      if (!MOUNTERS[kind] || mountedHosts.has(host)) return;
      mountedHosts.add(host);
      const widget = mountOne(host, kind);
      if (!widget) return;
      mounted.push(widget);
      if (widget.paint) widget.paint();
      const page = host.getAttribute("data-page");
      if (page && kind === "page-views" && page !== countedPage) otherPages.push(page);
    });
    readListedPages(otherPages);
    followStats();
  }

  // Renders one placeholder, or answers null when it cannot hold a shadow root.
  function mountOne(host, kind) {
    try {
      const widget = MOUNTERS[kind](host);
      widget.host = host;
      return widget;
    } catch (error) {
      return null;
    }
  }

  // Reads the view counts of pages shown but not counted here (listing pages), 50 per request.
  function readListedPages(pages) {
    for (let start = 0; start < pages.length; start += 50) {
      const chunk = Array.from(new Set(pages.slice(start, start + 50)));
      requestJson(statsPath(chunk)).then((answer) => rememberListedPages(chunk, answer), ignore);
    }
  }

  // Keeps the counts a listing read answered: by name, or by position where the service
  // renamed the pages (it names them as it stores them).
  function rememberListedPages(chunk, answer) {
    const pages = answer.pages || {};
    const counts = Object.values(pages);
    chunk.forEach((page, position) => {
      if (page in pages) views[page] = pages[page];
      else if (counts.length === chunk.length) views[page] = counts[position];
    });
    // A listing read may be answered before this page's hit is written: it fills in page
    // counts, and the site's numbers only while there are none yet.
    if (!stats) stats = answer;
    saveCachedNumbers();
    paintAll();
  }

  // ---- counting ---------------------------------------------------------------------------
  let currentPage = null; // the current history entry's page
  let countedPage = null; // the page of the last hit (differs after a replaceState)
  let previousAddress = document.referrer; // the referrer the next hit sends
  let heartbeatTimer = 0;
  let liveStats = null; // the stream of this page's numbers (an EventSource), while open
  let lastContact = 0; // when the last hit or ping was sent (Date.now())

  // Keeps a stats answer (and the count of the page it was for) and repaints.
  function rememberStats(answer, page) {
    stats = answer;
    if (page) {
      const counts = Object.values(answer.pages || {});
      if (counts.length) views[page] = counts[0];
    }
    saveCachedNumbers();
    paintAll();
  }

  // Counts a page view of the current page, unless it is the page already counted.
  function countPageView() {
    const page = currentPageName();
    if (page === currentPage) return;
    currentPage = countedPage = page;
    lastContact = Date.now();
    const title = document.title.slice(0, 300);
    const referrer = previousAddress.slice(0, 2048);
    previousAddress = location.href;
    const hit = {
      site, page, visitor, member: memberToken, title: title || undefined, referrer: referrer || undefined,
    };
    const answered = counting ? requestJson("/v1/hit", hit) : requestJson(statsPath([page]));
    answered.then((answer) => rememberStats(answer, page), ignore).then(scheduleHeartbeat);
  }

  // Plans the next heartbeat while the tab is visible; a hidden tab sends nothing.
  function scheduleHeartbeat() {
    clearTimeout(heartbeatTimer);
    if (document.visibilityState === "visible") heartbeatTimer = setTimeout(heartbeat, heartbeatMs);
    followStats();
  }

  // Follows this page's numbers live (Server-Sent Events) while the tab is visible and a box shows
  // them; closed when hidden. A stream refused or failed for good is tried again at the next
  // heartbeat, which keeps the numbers fresh meanwhile.
  function followStats() {
    const visible = document.visibilityState === "visible" && window.EventSource;
    const page = visible && mounted.some((widget) => widget.paint) ? countedPage : null;
    if (liveStats && (liveStats.page !== page || liveStats.readyState === 2)) {
      liveStats.close();
      liveStats = null;
    }
    if (liveStats || page === null) return;
    liveStats = new EventSource(apiBase + statsPath([page], "/events"));
    liveStats.page = page;
    liveStats.addEventListener("stats", (event) => rememberStats(JSON.parse(event.data), page));
  }

  // Keeps the reader online (a ping, or a read in read-only mode) and refreshes the numbers.
  function heartbeat() {
    lastContact = Date.now();
    releaseDetached();
    const answered = counting ? requestJson("/v1/ping", presence()) : requestJson(statsPath([]));
    answered.then((answer) => rememberStats(answer, null), ignore).then(scheduleHeartbeat);
  }

  // Back in view after longer than a heartbeat: ping at once; otherwise resume or stop the timer.
  function onVisibilityChange() {
    if (document.visibilityState === "visible" && Date.now() - lastContact >= heartbeatMs) heartbeat();
    else scheduleHeartbeat();
  }

  // Another tab of this visitor left and told the service so: this open tab re-announces the reader.
  function onOtherTabLeft() {
    if (document.visibilityState !== "visible") return;
    clearTimeout(heartbeatTimer);
    heartbeatTimer = setTimeout(heartbeat, 1000);
  }

  // The page is going away: the reader leaves (sendBeacon survives unloading) and other tabs hear of it.
  function onPageHide() {
    if (!counting) return;
    if (navigator.sendBeacon) navigator.sendBeacon(apiBase + "/v1/leave", JSON.stringify(presence()));
    if (otherTabs) otherTabs.postMessage("leave");
  }

  // A page restored from the back/forward cache announces the reader again.
  function onPageShow(event) {
    if (event.persisted) heartbeat();
  }

  // The tabs of this site in this browser, or null where BroadcastChannel is missing.
  function openTabChannel() {
    try {
      return new BroadcastChannel("counter." + site);
    } catch (error) {
      return null;
    }
  }

  const otherTabs = openTabChannel();
  if (otherTabs) otherTabs.onmessage = onOtherTabLeft;
  document.addEventListener("visibilitychange", onVisibilityChange);
  window.addEventListener("pagehide", onPageHide);
  window.addEventListener("pageshow", onPageShow);

  // ---- single-page apps -------------------------------------------------------------------
  // pushState or popstate to a different page counts it. replaceState only rewrites the current
  // entry (tracking parameters dropped, ?q= state): not a page view, unless it rewrites an entry
  // not yet counted (a pushState or popstate earlier in the same task).
  const originalPushState = history.pushState;
  const originalReplaceState = history.replaceState;

  // After a navigation settles (the app may still rewrite it in this task): count it, rescan.
  function onNavigation() {
    setTimeout(() => {
      countPageView();
      scan();
    }, 0);
  }

  // history.pushState, then the navigation handling.
  function pushState(...args) {
    const result = originalPushState.apply(this, args);
    onNavigation();
    return result;
  }

  // history.replaceState; a rewrite of the counted entry becomes the current page uncounted.
  function replaceState(...args) {
    const before = currentPageName();
    const result = originalReplaceState.apply(this, args);
    if (before === currentPage) {
      currentPage = currentPageName();
      previousAddress = location.href;
    }
    setTimeout(scan, 0);
    return result;
  }

  history.pushState = pushState;
  history.replaceState = replaceState;
  window.addEventListener("popstate", onNavigation);

  // The page's handle: scan() after rendering placeholders; pageName(text) names a page as the
  // service does (the shared page-name table in tests/data/page_cases.json runs through it).
  window.CounterWidget = { scan, count: countPageView, visitor: () => visitor, pageName };
  countPageView();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
