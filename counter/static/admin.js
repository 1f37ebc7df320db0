/*! counter console: the site owner's page on the admin API. Charts by uPlot (MIT). */

// This file is the readable source; /admin/console.js serves it minified (counter/web/console.py),
// comments and indentation dropped, names kept. The console holds no counting logic: every
// figure on it is what the admin API (or GET /v1/stats) answered. Text goes into the page
// through textContent only, never as markup. Never nest template literals (see widget.js).
(() => {
  "use strict";

  // ---- settings --------------------------------------------------------------------------
  const API = new URL("v1/", document.baseURI).href; // the service that served this page
  const TOKEN_KEY = "counter.console.token";
  const SITE_KEY = "counter.console.site";
  const LANGUAGE_KEY = "counter.console.language";
  const STATS_EVERY_MS = 5000;
  const VIEWS_EVERY_MS = 30000;
  const POLLS_EVERY_MS = 3000;
  const TOP_LIMIT = 10;
  const PAGE_BATCH = 100;
  const CHART_HEIGHT = 240;
  const COLOURS = ["#1b5fa6", "#e07b00", "#1e7b34"];
  const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  const VIEWS = ["overview", "settings", "counts", "pages", "polls"];

  const LABELS = {
    vi: {
      skip: "Bỏ qua, đến nội dung chính", brand: "counter · bảng điều khiển", site: "Trang web",
      language: "Ngôn ngữ", signOut: "Đăng xuất", signInTitle: "Đăng nhập bảng điều khiển",
      token: "Mã quản trị (admin token)",
      tokenHelp: "Giá trị của COUNTER_ADMIN_TOKEN; ở chế độ máy chủ nhúng là nội dung tệp var/admin-token. Mã chỉ được giữ trong thẻ trình duyệt này, đến khi bạn đăng xuất hoặc đóng thẻ.",
      signIn: "Đăng nhập", needToken: "Hãy nhập mã quản trị.",
      wrongToken: "Mã này bị từ chối: đây không phải mã quản trị của dịch vụ.",
      revoked: "Mã quản trị không còn được chấp nhận (có thể đã được thay đổi). Vui lòng đăng nhập lại.",
      disabled: "API quản trị đang tắt: hãy đặt COUNTER_ADMIN_TOKEN rồi khởi động lại dịch vụ.",
      unreachable: "Không kết nối được dịch vụ; số liệu gần nhất vẫn được giữ trên màn hình.",
      noSites: "Chưa có trang web nào: hãy tạo bằng lệnh counter site add hoặc PUT /v1/admin/sites/{site}.",
      failed: "Không thực hiện được: %s", viewsNav: "Các mục", overview: "Tổng quan",
      settings: "Cài đặt", counts: "Số liệu gốc", pages: "Danh sách trang", polls: "Bình chọn",
      updated: "Cập nhật lúc", onlineNow: "Đang trực tuyến", guests: "Khách", members: "Thành viên",
      bots: "Máy (bot)", total: "Tổng", today: "Hôm nay", yesterday: "Hôm qua", thisWeek: "Tuần này",
      thisMonth: "Tháng này", allTime: "Tổng lượt truy cập", pageviewsToday: "Lượt xem trang hôm nay",
      uniquesToday: "Khách duy nhất hôm nay", peak: "Trực tuyến cao nhất",
      dailyTitle: "Lượt truy cập, lượt xem trang và khách duy nhất theo ngày",
      range: "Khoảng thời gian", days30: "30 ngày", days90: "90 ngày", days365: "365 ngày",
      dataTable: "Xem số liệu dạng bảng", hoursTitle: "Lượt truy cập theo giờ: hôm nay và hôm qua",
      onlineTitle: "Số người trực tuyến trong 24 giờ qua (theo phút)",
      topToday: "Trang được xem nhiều hôm nay", topAll: "Trang được xem nhiều nhất từ trước đến nay",
      referrersToday: "Nguồn giới thiệu hôm nay", date: "Ngày", visits: "Lượt truy cập",
      pageviews: "Lượt xem trang", uniques: "Khách duy nhất", botHits: "Lượt bot", hour: "Giờ",
      time: "Thời điểm", online: "Trực tuyến", page: "Trang", views: "Lượt xem", host: "Tên miền",
      hits: "Lượt", none: "Chưa có số liệu.",
      incomplete: "Xếp hạng từ một phần danh sách trang (trang web có quá nhiều trang).",
      fieldName: "Tên", fieldOrigins: "Nguồn được phép (origin)",
      originsHelp: "Mỗi dòng một nguồn, ví dụ https://portal.example.vn; để trống: trang nào cũng nhúng được widget.",
      fieldTimezone: "Múi giờ", fieldWeekStart: "Ngày đầu tuần", fieldLocale: "Ngôn ngữ (locale)",
      fieldOnlineWindow: "Khoảng tính trực tuyến (giây)",
      fieldVisitWindow: "Khoảng tính một lượt truy cập (giây)",
      fieldMaxPages: "Số trang tối đa được đếm riêng",
      fieldTokenMax: "Thời hạn tối đa của mã thành viên (giây)", fieldBotPolicy: "Máy (bot)",
      botsSeparate: "đếm riêng", botsIgnore: "bỏ qua", save: "Lưu", saved: "Đã lưu.",
      unchanged: "Không có thay đổi nào.", monday: "Thứ hai", tuesday: "Thứ ba",
      wednesday: "Thứ tư", thursday: "Thứ năm", friday: "Thứ sáu", saturday: "Thứ bảy",
      sunday: "Chủ nhật", memberSecret: "Khóa bí mật thành viên",
      secretSet: "Đã đặt khóa bí mật: mã thành viên ký bằng khóa này được tính là thành viên.",
      secretUnset: "Chưa đặt khóa bí mật: mọi người truy cập đều được tính là khách.",
      secretRotate: "Tạo khóa mới", secretRemove: "Xóa khóa",
      confirmRotate: "Thay khóa bí mật? Các mã ký bằng khóa cũ sẽ được tính là khách.",
      confirmRemove: "Xóa khóa bí mật? Mọi người truy cập sẽ được tính là khách.",
      secretNew: "Khóa mới",
      secretOnce: "Hãy sao chép ngay vào cấu hình cổng thông tin: dịch vụ sẽ không hiển thị lại khóa này.",
      secretRemoved: "Đã xóa khóa bí mật.", snippetPython: "Tạo mã thành viên bằng Python",
      snippetPhp: "Tạo mã thành viên bằng PHP", baseTitle: "Số liệu gốc",
      baseHelp: "Số liệu nhập từ hệ thống cũ, được cộng vào tổng. Để trống ô nào thì giữ nguyên số đó; mọi thay đổi được ghi vào nhật ký.",
      baseVisits: "Lượt truy cập gốc", basePageviews: "Lượt xem trang gốc",
      basePages: "Lượt xem gốc theo trang",
      basePagesHelp: "Mỗi dòng: tên trang, dấu cách, số lượt (ví dụ /news/123 138).",
      baseSave: "Đặt số liệu gốc", baseNothing: "Hãy nhập ít nhất một số liệu.",
      badPageLine: "Dòng %n không có dạng “trang số”.", baseSaved: "Đã đặt số liệu gốc.",
      peakReset: "Đặt lại mức cao nhất",
      confirmPeak: "Xóa mức trực tuyến cao nhất? Mức mới được tính lại từ số người đang trực tuyến.",
      peakDone: "Đã đặt lại mức trực tuyến cao nhất.", auditTitle: "Nhật ký thay đổi (mới nhất trước)",
      actor: "Người thực hiện", change: "Thay đổi",
      pruneBelow: "Ngừng đếm riêng các trang có ít lượt xem hơn", prune: "Dọn",
      pruneSelected: "Ngừng đếm riêng các trang đã chọn", more: "Xem thêm",
      tracked: "Đang đếm riêng %n trang, tối đa %m trang.", select: "Chọn %s",
      pickPages: "Hãy chọn trang trước.",
      confirmPrune: "Ngừng đếm riêng %n trang? Lượt xem của chúng vẫn nằm trong tổng của trang web.",
      pruned: "Đã bỏ %n trang khỏi danh sách.", pollNew: "Bình chọn mới",
      pollEdit: "Sửa bình chọn", question: "Câu hỏi", options: "Các phương án",
      option: "Phương án %n", addOption: "Thêm phương án", removeOption: "Xóa phương án %n",
      maxChoices: "Số phương án được chọn tối đa", startsAt: "Bắt đầu lúc", endsAt: "Kết thúc lúc",
      timesHelp: "Theo múi giờ của trang web; để trống: mở ngay và không tự kết thúc.",
      visibility: "Hiển thị kết quả", visAfterVote: "sau khi bình chọn", visAlways: "luôn luôn",
      visAfterClose: "sau khi kết thúc", visNever: "không (chỉ quản trị viên xem)",
      allowChange: "Cho phép đổi phương án đã chọn", create: "Tạo bình chọn",
      update: "Lưu bình chọn", cancel: "Hủy", created: "Đã tạo bình chọn.",
      pollSaved: "Đã lưu bình chọn.", noPolls: "Chưa có bình chọn nào.", open: "đang mở",
      scheduled: "đã lên lịch", closed: "đã kết thúc", voters: "Số người bình chọn", edit: "Sửa",
      closeNow: "Kết thúc ngay", reopen: "Mở lại", remove: "Xóa", exportCsv: "Xuất CSV",
      confirmDelete: "Xóa bình chọn này cùng toàn bộ phiếu? %s", pollClosed: "Đã kết thúc bình chọn.",
      pollReopened: "Đã mở lại bình chọn.", pollDeleted: "Đã xóa bình chọn.", opens: "bắt đầu %s",
      closes: "kết thúc %s", noEnd: "không giới hạn", choices: "chọn tối đa %n",
      changeAllowed: "được đổi phương án", resultsShown: "kết quả: %s",
    },
    en: {
      skip: "Skip to the content", brand: "counter · console", site: "Site", language: "Language",
      signOut: "Sign out", signInTitle: "Sign in to the console", token: "Admin token",
      tokenHelp: "The value of COUNTER_ADMIN_TOKEN; in the embedded mode, the content of the file var/admin-token. It is kept in this browser tab only, until you sign out or close it.",
      signIn: "Sign in", needToken: "Enter the admin token.",
      wrongToken: "This token was refused: it is not the service's admin token.",
      revoked: "The admin token is no longer accepted (it may have been changed). Sign in again.",
      disabled: "The admin API is turned off: set COUNTER_ADMIN_TOKEN and restart the service.",
      unreachable: "The service cannot be reached; the last numbers stay on screen.",
      noSites: "There is no site yet: create one with counter site add or PUT /v1/admin/sites/{site}.",
      failed: "Failed: %s", viewsNav: "Views", overview: "Overview", settings: "Settings",
      counts: "Base counts", pages: "Pages", polls: "Polls", updated: "Updated",
      onlineNow: "Online now", guests: "Guests", members: "Members", bots: "Bots", total: "Total",
      today: "Today", yesterday: "Yesterday", thisWeek: "This week", thisMonth: "This month",
      allTime: "All-time visits", pageviewsToday: "Page views today",
      uniquesToday: "Unique visitors today", peak: "Peak online",
      dailyTitle: "Daily visits, page views and unique visitors", range: "Period",
      days30: "30 days", days90: "90 days", days365: "365 days",
      dataTable: "Show the figures as a table", hoursTitle: "Visits by hour: today and yesterday",
      onlineTitle: "Online over the last 24 hours (per minute)", topToday: "Top pages today",
      topAll: "Top pages of all time", referrersToday: "Top referrers today", date: "Date",
      visits: "Visits", pageviews: "Page views", uniques: "Unique visitors", botHits: "Bot hits",
      hour: "Hour", time: "Time", online: "Online", page: "Page", views: "Views", host: "Host",
      hits: "Hits", none: "Nothing yet.",
      incomplete: "Ranked from part of the page list (the site has too many pages).",
      fieldName: "Name", fieldOrigins: "Allowed origins",
      originsHelp: "One per line, like https://portal.example.vn; none: any page may embed the widget.",
      fieldTimezone: "Timezone", fieldWeekStart: "First day of the week", fieldLocale: "Locale",
      fieldOnlineWindow: "Online window (seconds)", fieldVisitWindow: "Visit window (seconds)",
      fieldMaxPages: "Most pages counted one by one",
      fieldTokenMax: "Longest member token lifetime (seconds)", fieldBotPolicy: "Bots",
      botsSeparate: "count apart", botsIgnore: "ignore", save: "Save", saved: "Saved.",
      unchanged: "Nothing changed.", monday: "Monday", tuesday: "Tuesday",
      wednesday: "Wednesday", thursday: "Thursday", friday: "Friday", saturday: "Saturday",
      sunday: "Sunday", memberSecret: "Member secret",
      secretSet: "A member secret is set: member tokens signed with it count members.",
      secretUnset: "No member secret: every visitor counts as a guest.",
      secretRotate: "Generate a new secret", secretRemove: "Remove the secret",
      confirmRotate: "Replace the member secret? Tokens signed with the old one will count guests.",
      confirmRemove: "Remove the member secret? Every visitor will count as a guest.",
      secretNew: "The new secret",
      secretOnce: "Copy it into your portal's configuration now: the service never shows it again.",
      secretRemoved: "Member secret removed.", snippetPython: "Minting a member token in Python",
      snippetPhp: "Minting a member token in PHP", baseTitle: "Base counts",
      baseHelp: "Imported offsets added to the totals (to go on from an old system's count). A blank field keeps its count; every change is written to the audit log.",
      baseVisits: "Base visits", basePageviews: "Base page views",
      basePages: "Base views per page",
      basePagesHelp: "One per line: the page, a space, the count (like /news/123 138).",
      baseSave: "Set base counts", baseNothing: "Fill in at least one count.",
      badPageLine: "Line %n is not “page count”.", baseSaved: "Base counts set.",
      peakReset: "Reset the peak",
      confirmPeak: "Forget the peak online? It starts again from the visitors online now.",
      peakDone: "Peak online reset.", auditTitle: "Audit log (newest first)", actor: "By",
      change: "Change", pruneBelow: "Stop counting one by one the pages with fewer views than",
      prune: "Prune", pruneSelected: "Stop counting the selected pages one by one",
      more: "Show more", tracked: "%n pages counted one by one, at most %m.",
      select: "Select %s", pickPages: "Select pages first.",
      confirmPrune: "Stop counting %n pages one by one? Their views stay in the site's totals.",
      pruned: "%n pages removed from the list.", pollNew: "New poll", pollEdit: "Edit the poll",
      question: "Question", options: "Options", option: "Option %n", addOption: "Add an option",
      removeOption: "Remove option %n", maxChoices: "Most choices per voter",
      startsAt: "Opens at", endsAt: "Closes at",
      timesHelp: "In the site's timezone; blank: opens now and never closes by itself.",
      visibility: "Results shown", visAfterVote: "after voting", visAlways: "always",
      visAfterClose: "after closing", visNever: "never (admins only)",
      allowChange: "Voters may change their vote", create: "Create the poll",
      update: "Save the poll", cancel: "Cancel", created: "Poll created.",
      pollSaved: "Poll saved.", noPolls: "No poll yet.", open: "open", scheduled: "scheduled",
      closed: "closed", voters: "Voters", edit: "Edit", closeNow: "Close now", reopen: "Reopen",
      remove: "Delete", exportCsv: "Export CSV",
      confirmDelete: "Delete this poll and all its votes? %s", pollClosed: "Poll closed.",
      pollReopened: "Poll reopened.", pollDeleted: "Poll deleted.", opens: "opens %s",
      closes: "closes %s", noEnd: "no end", choices: "up to %n choices",
      changeAllowed: "votes can be changed", resultsShown: "results: %s",
    },
  };
  const VISIBILITY = { always: "visAlways", after_vote: "visAfterVote", after_close: "visAfterClose", never: "visNever" };

  const state = {
    token: null, // the admin token, as kept in sessionStorage
    sites: [], // site ids
    config: null, // the chosen site's config, as GET /v1/admin/sites/{site} answered
    stats: null, // its last GET /v1/stats answer
    language: "en",
    view: "overview",
    timers: {}, // task name -> its next run (timeout id), for the chosen site
    charts: {}, // name -> uPlot instance
    chartData: {}, // name -> the arguments it was drawn with (to redraw in another language)
    answers: {}, // view name -> last answer, to redraw in another language
    pages: new Map(), // page -> views, as listed so far
    pageCursor: 0, // where the page list goes on (0: listed to the end)
    pageTotals: null, // {tracked, max} of the last page list answer
    polls: [],
    editing: null, // the poll being edited, or null when the form creates one
    generation: 0, // bumped at every sign-out or site change: stale answers are dropped
  };

  // ---- small helpers -----------------------------------------------------------------------
  // The element with this id.
  function byId(id) {
    return document.getElementById(id);
  }

  // A new element with its class and text.
  function make(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  // A label in the console's language; %n, %m and %s replaced by the values given.
  function t(key, values) {
    const table = LABELS[state.language] || LABELS.en;
    let text = table[key] || LABELS.en[key] || key;
    for (const [mark, value] of Object.entries(values || {})) text = text.split(mark).join(String(value));
    return text;
  }

  // A count in the console's language (vi: 77.445.445), or a dash when there is none.
  function formatNumber(value) {
    return typeof value === "number" ? new Intl.NumberFormat(state.language).format(value) : "–";
  }

  // The site's timezone (the API's times and days are in it).
  function siteZone() {
    return (state.config && state.config.timezone) || "UTC";
  }

  // A moment (ISO 8601 or Unix ms) as a date and time in the site's timezone.
  function formatMoment(value) {
    if (value === null || value === undefined || value === "" || value === 0) return "–";
    const options = { dateStyle: "medium", timeStyle: "short", timeZone: siteZone() };
    return new Intl.DateTimeFormat(state.language, options).format(new Date(value));
  }

  // A local day (YYYY-MM-DD) as the language writes dates.
  function formatDay(day, short) {
    const options = short ? { day: "2-digit", month: "2-digit" } : { dateStyle: "medium" };
    options.timeZone = "UTC";
    return new Intl.DateTimeFormat(state.language, options).format(new Date(day + "T00:00:00Z"));
  }

  // The day (YYYY-MM-DD) a number of days before another.
  function daysBefore(day, count) {
    const moment = new Date(day + "T00:00:00Z");
    moment.setUTCDate(moment.getUTCDate() - count);
    return moment.toISOString().slice(0, 10);
  }

  // The value at a dotted path of an object ("visits.today").
  function pick(object, path) {
    return path.split(".").reduce((found, key) => (found == null ? found : found[key]), object);
  }

  // A value kept for this tab, or null where storage is blocked.
  function readSession(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (error) {
      return null;
    }
  }

  // Keeps a value for this tab (a null value forgets it); silently memory-only when blocked.
  function writeSession(key, value) {
    try {
      if (value === null) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, value);
    } catch (error) {
      // memory only
    }
  }

  // ---- the API -----------------------------------------------------------------------------
  // A refusal or failure of the API: its HTTP status and the error's code and message.
  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // Calls the API with the admin token; the answer's JSON (null for 204), or an ApiFailure.
  // A refused token ends the session: the sign-in form comes back with the reason.
  async function api(method, path, body, token) {
    const headers = { Authorization: "Bearer " + (token || state.token) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const response = await send(path, { method, headers, body: payload });
    if (response.status === 204) return null;
    if (response.ok) return response.json();
    const failure = await failureOf(response);
    if (!token && isRefusal(failure)) signOut(refusalText(failure, "revoked"));
    throw failure;
  }

  // The ApiFailure of an answer that is not a success: the service's JSON error, read.
  async function failureOf(response) {
    const data = await response.json().catch(() => null);
    const error = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
    return new ApiFailure(response.status, error.code, error.message);
  }

  // fetch() of the API, a network failure turned into an ApiFailure with status 0.
  async function send(path, init) {
    try {
      return await fetch(API + path, { cache: "no-store", credentials: "omit", ...init });
    } catch (error) {
      throw new ApiFailure(0, "unreachable", t("unreachable"));
    }
  }

  // True when the API refused the token itself (wrong, changed, or the admin API is off).
  function isRefusal(failure) {
    return failure.status === 401 || (failure.status === 403 && failure.code === "admin_disabled");
  }

  // What to tell the person whose token was refused.
  function refusalText(failure, fallback) {
    return failure.code === "admin_disabled" ? t("disabled") : t(fallback);
  }

  // The site's public stats (GET /v1/stats: counts nothing, no token needed).
  async function readStats(site) {
    const response = await send("stats?site=" + encodeURIComponent(site), {});
    if (!response.ok) throw await failureOf(response);
    return response.json();
  }

  // An admin path of the chosen site.
  function sitePath(rest) {
    return "admin/sites/" + encodeURIComponent(state.config.id) + (rest || "");
  }

  // ---- notices -----------------------------------------------------------------------------
  // Says something in the status line (a failure in red).
  function notify(text, failed) {
    const notice = byId("notice");
    notice.textContent = text;
    notice.classList.toggle("failed", Boolean(failed));
  }

  // Shows what went wrong, in a form's own alert when given, else in the status line; a
  // refused token has already brought the sign-in form back, and stale answers say nothing.
  function report(error, where) {
    if (!(error instanceof ApiFailure)) throw error;
    if (isRefusal(error) || !state.token) return;
    const text = error.status === 0 ? error.message : t("failed", { "%s": error.message });
    if (where) where.textContent = text;
    else notify(text, true);
  }

  // ---- language ----------------------------------------------------------------------------
  // Puts every label of the page in the console's language and redraws what holds numbers.
  function translatePage() {
    document.documentElement.lang = state.language;
    byId("language").value = state.language;
    for (const element of document.querySelectorAll("[data-t]")) element.textContent = t(element.dataset.t);
    byId("set-week").replaceChildren(...WEEKDAYS.map((day) => new Option(t(day), day)));
    if (state.config) byId("set-week").value = state.config.week_start;
    document.title = t("brand");
    if (state.stats) renderStats();
    for (const name of Object.keys(state.chartData)) drawChart(name, ...state.chartData[name]);
    for (const [name, answer] of Object.entries(state.answers)) RENDERERS[name](answer);
    renderPollForm();
    if (state.config) renderSecretState();
    renderPolls(true);
    renderPages();
  }

  // The language the person chose, else the site's locale, else the browser's.
  function defaultLanguage() {
    const chosen = readSession(LANGUAGE_KEY);
    if (chosen === "vi" || chosen === "en") return chosen;
    const locale = (state.config && state.config.locale) || navigator.language || "en";
    return locale.toLowerCase().startsWith("vi") ? "vi" : "en";
  }

  // The language switch: remembered for this tab.
  function chooseLanguage() {
    state.language = byId("language").value;
    writeSession(LANGUAGE_KEY, state.language);
    translatePage();
  }

  // ---- signing in and out ------------------------------------------------------------------
  // Shows the sign-in form with a message (why the last token was refused, say).
  function showSignIn(message) {
    byId("console").hidden = true;
    byId("session").hidden = true;
    byId("sign-out").hidden = true;
    byId("signin").hidden = false;
    byId("signin-error").textContent = message || "";
    byId("token").value = "";
    byId("token").focus();
  }

  // Forgets the token and everything shown with it, and asks for a token again.
  function signOut(message) {
    state.generation += 1;
    state.token = null;
    writeSession(TOKEN_KEY, null);
    stopTimers();
    showSignIn(typeof message === "string" ? message : "");
  }

  // The sign-in form: checks the token against the admin API before keeping it.
  async function signIn(event) {
    event.preventDefault();
    const token = byId("token").value.trim();
    const error = byId("signin-error");
    if (!token) {
      error.textContent = t("needToken");
      byId("token").focus();
      return;
    }
    try {
      const answer = await api("GET", "admin/sites", undefined, token);
      state.token = token;
      writeSession(TOKEN_KEY, token);
      await enter(answer.sites);
    } catch (failure) {
      if (!(failure instanceof ApiFailure)) throw failure;
      error.textContent = isRefusal(failure) ? refusalText(failure, "wrongToken") : failure.message;
      byId("token").focus();
    }
  }

  // Opens the console on the sites the token may see.
  async function enter(sites) {
    state.sites = sites;
    byId("signin").hidden = true;
    byId("console").hidden = false;
    byId("session").hidden = false;
    byId("sign-out").hidden = false;
    const select = byId("site-select");
    select.replaceChildren(...sites.map((site) => new Option(site, site)));
    if (sites.length === 0) {
      notify(t("noSites"), true);
      return;
    }
    const remembered = readSession(SITE_KEY);
    await selectSite(sites.includes(remembered) ? remembered : sites[0], true);
  }

  // ---- the chosen site ---------------------------------------------------------------------
  // Shows a site: its config, then every view's figures, refreshed on timers.
  async function selectSite(site, focusHeading) {
    stopTimers();
    state.generation += 1;
    const generation = state.generation;
    byId("site-select").value = site;
    writeSession(SITE_KEY, site);
    let config;
    try {
      config = await api("GET", "admin/sites/" + encodeURIComponent(site));
    } catch (error) {
      report(error);
      return;
    }
    if (generation !== state.generation) return;
    Object.assign(state, { config, stats: null, chartData: {}, answers: {}, polls: [], editing: null });
    Object.assign(state, { pages: new Map(), pageCursor: 0, pageTotals: null });
    state.language = defaultLanguage();
    for (const name of Object.keys(state.charts)) state.charts[name].destroy();
    state.charts = {};
    for (const element of document.querySelectorAll(".site-name")) element.textContent = config.name || config.id;
    renderSettings();
    resetPollForm();
    translatePage();
    notify("");
    showView(viewFromHash(), focusHeading);
    startTimers(generation);
  }

  // Starts the refreshes of the chosen site: the live tiles now, the slower views and the
  // polls once the view that shows them has loaded them.
  function startTimers(generation) {
    every("stats", generation, STATS_EVERY_MS, refreshStats);
    const shown = (view, task) => () => (state.view === view ? task() : null);
    every("views", generation, VIEWS_EVERY_MS, shown("overview", refreshViews), true);
    every("polls", generation, POLLS_EVERY_MS, shown("polls", loadPolls), true);
  }

  // Runs a task (now, or first after a delay) and again every so often, skipped while the tab
  // is hidden, one run at a time, until the site changes or the session ends.
  function every(name, generation, delay, task, later) {
    const run = async () => {
      if (generation !== state.generation) return;
      if (!document.hidden) {
        try {
          await task();
        } catch (error) {
          report(error);
        }
      }
      if (generation === state.generation) state.timers[name] = setTimeout(run, delay);
    };
    if (later) state.timers[name] = setTimeout(run, delay);
    else run();
  }

  // Stops every refresh.
  function stopTimers() {
    for (const timer of Object.values(state.timers)) clearTimeout(timer);
    state.timers = {};
  }

  // ---- views -------------------------------------------------------------------------------
  // The view named in the address (#polls), the overview when none is.
  function viewFromHash() {
    const name = location.hash.slice(1);
    return VIEWS.includes(name) ? name : "overview";
  }

  // Shows one view, loads its figures, and (after a choice) moves the focus to its heading.
  function showView(view, focusHeading) {
    state.view = view;
    for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== view;
    for (const link of document.querySelectorAll("[data-view]")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (focusHeading) byId(view + "-title").focus();
    if (!state.config) return;
    const loaders = {
      overview: refreshViews, settings: refreshSettings, counts: loadAudit,
      pages: () => loadPages(true), polls: loadPolls,
    };
    loaders[view]().catch(report);
    if (view === "overview") resizeCharts();
  }

  // ---- overview: tiles -----------------------------------------------------------------------
  // Reads the live stats (the tiles, and the site's today for the charts).
  async function refreshStats() {
    const generation = state.generation;
    const stats = await readStats(state.config.id);
    if (generation !== state.generation) return;
    state.stats = stats;
    renderStats();
  }

  // Fills every tile from the last stats answer.
  function renderStats() {
    for (const element of document.querySelectorAll("[data-figure]")) {
      const path = element.dataset.figure;
      const value = pick(state.stats, path);
      if (path.endsWith(".at")) {
        element.textContent = formatMoment(value);
        element.dateTime = value || "";
      } else {
        element.textContent = formatNumber(value);
      }
    }
    byId("updated").textContent = formatMoment(state.stats.server_time);
    byId("updated").dateTime = state.stats.server_time;
  }

  // The site's local today, as the service last said it.
  async function siteToday() {
    if (!state.stats) await refreshStats();
    return state.stats.server_time.slice(0, 10);
  }

  // ---- overview: charts and lists ----------------------------------------------------------
  // Reloads the overview's charts and lists.
  async function refreshViews() {
    const generation = state.generation;
    const [daily, hours, online, topDay, topAll, referrers] = await Promise.all([
      loadDaily(),
      loadHours(),
      api("GET", sitePath("/online?hours=24")),
      api("GET", sitePath("/top-pages?period=day&limit=" + TOP_LIMIT)),
      api("GET", sitePath("/top-pages?period=all&limit=" + TOP_LIMIT)),
      api("GET", sitePath("/referrers?limit=" + TOP_LIMIT)),
    ]);
    if (generation !== state.generation) return;
    Object.assign(state.answers, { daily, hours, online, topDay, topAll, referrers });
    for (const name of ["daily", "hours", "online", "topDay", "topAll", "referrers"]) RENDERERS[name](state.answers[name]);
  }

  // The daily history over the chosen range (30, 90 or 365 days up to today).
  async function loadDaily() {
    const today = await siteToday();
    const span = Number(byId("daily-range").value);
    const query = "?from=" + daysBefore(today, span - 1) + "&to=" + today;
    return api("GET", sitePath("/history" + query));
  }

  // Today's and yesterday's visits by hour (the site's local days).
  async function loadHours() {
    const today = await api("GET", sitePath("/hours"));
    const yesterday = await api("GET", sitePath("/hours?date=" + daysBefore(today.date, 1)));
    return { today, yesterday };
  }

  // Redraws the daily chart for another range.
  async function changeRange() {
    const generation = state.generation;
    const daily = await loadDaily();
    if (generation !== state.generation) return;
    state.answers.daily = daily;
    renderDaily(daily);
  }

  // The daily chart and its table.
  function renderDaily(answer) {
    const days = answer.days;
    const xs = days.map((row) => Date.parse(row.date + "T00:00:00Z") / 1000);
    const names = [t("visits"), t("pageviews"), t("uniques")];
    const columns = ["visits", "pageviews", "uniques"].map((key) => days.map((row) => row[key]));
    drawChart("daily", "day", names, [xs, ...columns]);
    const head = [t("date"), t("visits"), t("pageviews"), t("uniques"), t("botHits")];
    const rows = days.slice().reverse()
      .map((row) => [formatDay(row.date), row.visits, row.pageviews, row.uniques, row.bot_hits]);
    byId("table-daily").replaceChildren(table(head, rows, "daily"));
  }

  // The by-hour chart (today against yesterday) and its table.
  function renderHours(answer) {
    const hours = answer.today.visits.map((_, hour) => hour);
    const names = [t("today"), t("yesterday")];
    drawChart("hours", "hour", names, [hours, answer.today.visits, answer.yesterday.visits]);
    const head = [t("hour"), t("today"), t("yesterday")];
    const rows = hours.map((hour) => [formatHour(hour), answer.today.visits[hour], answer.yesterday.visits[hour]]);
    byId("table-hours").replaceChildren(table(head, rows, "hours"));
  }

  // The online-by-minute chart and its table.
  function renderOnline(answer) {
    const samples = answer.samples;
    const xs = samples.map((sample) => Date.parse(sample.at) / 1000);
    const end = state.stats ? Date.parse(state.stats.server_time) / 1000 : Math.max(...xs, 0);
    const range = [end - answer.hours * 3600, end];
    drawChart("online", "minute", [t("online")], [xs, samples.map((sample) => sample.online)], range);
    const rows = samples.slice().reverse().map((sample) => [formatMoment(sample.at), sample.online]);
    byId("table-online").replaceChildren(table([t("time"), t("online")], rows, "online"));
  }

  // A ranked list (top pages, referrers) as a table, or a note that there is nothing yet.
  function renderRanked(box, items, nameKey, countKey, heads) {
    const rows = items.map((item) => [item[nameKey], item[countKey]]);
    byId(box).replaceChildren(rows.length ? table(heads, rows, box) : make("p", "empty", t("none")));
  }

  const RENDERERS = {
    daily: renderDaily,
    hours: renderHours,
    online: renderOnline,
    topDay: (answer) => renderRanked("top-day", answer.pages, "page", "views", [t("page"), t("views")]),
    topAll: (answer) => {
      renderRanked("top-all", answer.pages, "page", "views", [t("page"), t("views")]);
      if (!answer.complete) byId("top-all").append(make("p", "help", t("incomplete")));
    },
    referrers: (answer) => renderRanked("referrers", answer.referrers, "host", "hits", [t("host"), t("hits")]),
    audit: renderAudit,
  };

  // A table: numbers (and missing ones, null) right-aligned in the console's format, text as
  // text; a column of numbers has its heading right-aligned too.
  function table(heads, rows, name) {
    const element = make("table");
    element.dataset.table = name;
    const isNumber = (value) => typeof value === "number" || value === null;
    const numeric = heads.map((_, index) => rows.length > 0 && rows.every((row) => isNumber(row[index])));
    const headRow = element.createTHead().insertRow();
    for (const [index, head] of heads.entries()) {
      const cell = make("th", numeric[index] ? "num" : "", head);
      cell.scope = "col";
      headRow.append(cell);
    }
    const body = element.createTBody();
    for (const row of rows) {
      const line = body.insertRow();
      for (const [index, value] of row.entries()) {
        line.append(make("td", numeric[index] ? "num" : "name", numeric[index] ? formatNumber(value) : value));
      }
    }
    return element;
  }

  // An hour of the day as the axis and table show it (09:00).
  function formatHour(hour) {
    return String(hour).padStart(2, "0") + ":00";
  }

  // An x value as an axis or legend shows it: a day, an hour, or a local time.
  function formatX(kind, value) {
    if (kind === "hour") return formatHour(value);
    const options = kind === "day"
      ? { day: "2-digit", month: "2-digit", timeZone: "UTC" }
      : { hour: "2-digit", minute: "2-digit", timeZone: siteZone() };
    return new Intl.DateTimeFormat(state.language, options).format(new Date(value * 1000));
  }

  // Draws (or redraws) a chart: x values and one column per named series (over the x range
  // given, else the data's).
  function drawChart(name, kind, names, data, range) {
    state.chartData[name] = [kind, names, data, range];
    if (state.charts[name]) state.charts[name].destroy();
    delete state.charts[name];
    if (typeof window.uPlot !== "function") return;
    const box = byId("chart-" + name);
    const xLabel = { hour: "hour", day: "date", minute: "time" }[kind];
    const series = [{ label: t(xLabel), value: (chart, value) => (value === null ? "–" : formatX(kind, value)) }];
    names.forEach((label, index) => series.push({
      label, stroke: COLOURS[index], width: 2, spanGaps: false,
      points: { show: kind !== "minute" || data[0].length < 60 }, value: (chart, value) => formatNumber(value),
    }));
    const x = { time: kind !== "hour" };
    if (range) x.range = () => range;
    const xAxis = { values: (chart, splits) => splits.map((value) => formatX(kind, value)) };
    if (kind === "hour") xAxis.incrs = [1, 2, 3, 4, 6, 12];
    const options = {
      width: chartWidth(box), height: CHART_HEIGHT, series, scales: { x },
      axes: [xAxis, { size: 70, values: (chart, splits) => splits.map(formatNumber) }],
      tzDate: (seconds) => window.uPlot.tzDate(new Date(seconds * 1000), kind === "day" ? "UTC" : siteZone()),
    };
    state.charts[name] = new window.uPlot(options, data, box);
  }

  // The width a chart fills in its box.
  function chartWidth(box) {
    return Math.max(280, box.clientWidth || 600);
  }

  // Fits every chart to its box again (after a resize, or when the overview shows again).
  function resizeCharts() {
    for (const [name, chart] of Object.entries(state.charts)) {
      chart.setSize({ width: chartWidth(byId("chart-" + name)), height: CHART_HEIGHT });
    }
  }

  // ---- settings ------------------------------------------------------------------------------
  // Reads the site's config again and shows it in the form.
  async function refreshSettings() {
    const generation = state.generation;
    const config = await api("GET", sitePath());
    if (generation !== state.generation) return;
    state.config = config;
    renderSettings();
  }

  // The settings form's fields, as the config holds them.
  function renderSettings() {
    const config = state.config;
    const form = byId("settings-form");
    for (const field of form.elements) {
      if (!field.name) continue;
      const value = config[field.name];
      field.value = Array.isArray(value) ? value.join("\n") : value == null ? "" : String(value);
    }
    byId("settings-error").textContent = "";
    renderSecretState();
  }

  // The fields of the settings form that differ from the config, as PUT takes them.
  function changedSettings() {
    const changes = {};
    for (const field of byId("settings-form").elements) {
      if (!field.name) continue;
      let value = field.value.trim();
      if (field.name === "origins") value = value.split(/\s+/).filter(Boolean);
      else if (field.type === "number") value = value === "" ? state.config[field.name] : Number(value);
      if (JSON.stringify(value) !== JSON.stringify(state.config[field.name])) changes[field.name] = value;
    }
    return changes;
  }

  // Saves what changed in the settings form.
  async function saveSettings(event) {
    event.preventDefault();
    const error = byId("settings-error");
    error.textContent = "";
    const changes = changedSettings();
    if (Object.keys(changes).length === 0) {
      notify(t("unchanged"));
      return;
    }
    try {
      state.config = await api("PUT", sitePath(), changes);
    } catch (failure) {
      report(failure, error);
      return;
    }
    renderSettings();
    for (const element of document.querySelectorAll(".site-name")) element.textContent = state.config.name || state.config.id;
    notify(t("saved"));
  }

  // Says whether the site has a member secret.
  function renderSecretState() {
    byId("secret-state").textContent = t(state.config.member_secret_set ? "secretSet" : "secretUnset");
    byId("secret-remove").hidden = !state.config.member_secret_set;
  }

  // A new member secret: 32 random bytes as 64 hexadecimal digits.
  function newSecret() {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // Replaces the member secret and shows it once, with the snippets that mint tokens with it.
  async function rotateSecret() {
    if (state.config.member_secret_set && !window.confirm(t("confirmRotate"))) return;
    const secret = newSecret();
    try {
      state.config = await api("PUT", sitePath(), { member_secret: secret });
    } catch (error) {
      report(error);
      return;
    }
    renderSecretState();
    byId("secret-value").value = secret;
    byId("snippet-python").textContent = pythonSnippet(secret, state.config.id);
    byId("snippet-php").textContent = phpSnippet(secret, state.config.id);
    byId("secret-new").hidden = false;
    byId("secret-value").focus();
    byId("secret-value").select();
  }

  // Removes the member secret (every visitor then counts as a guest).
  async function removeSecret() {
    if (!window.confirm(t("confirmRemove"))) return;
    try {
      state.config = await api("PUT", sitePath(), { member_secret: null });
    } catch (error) {
      report(error);
      return;
    }
    byId("secret-new").hidden = true;
    renderSecretState();
    notify(t("secretRemoved"));
  }

  // The README's Python member-token function, with this site and secret filled in.
  function pythonSnippet(secret, site) {
    return [
      "import base64, hashlib, hmac, time",
      "",
      'SECRET = "' + secret + '"  # keep it on the server only',
      "",
      'def member_token(member_id: str, secret: str = SECRET, site: str = "' + site + '", ttl: int = 3600) -> str:',
      "    exp = int(time.time()) + ttl",
      '    mac = hmac.new(secret.encode(), f"v1.{site}.{member_id}.{exp}".encode(), hashlib.sha256)',
      '    return f"v1.{member_id}.{exp}." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()',
    ].join("\n");
  }

  // The README's PHP member-token function, with this site and secret filled in.
  function phpSnippet(secret, site) {
    return [
      "const COUNTER_SECRET = '" + secret + "'; // keep it on the server only",
      "",
      "function member_token(string $memberId, string $secret = COUNTER_SECRET, string $site = '" + site + "', int $ttl = 3600): string {",
      "    $exp = time() + $ttl;",
      "    $sig = rtrim(strtr(base64_encode(hash_hmac('sha256', \"v1.$site.$memberId.$exp\", $secret, true)), '+/', '-_'), '=');",
      '    return "v1.$memberId.$exp.$sig";',
      "}",
    ].join("\n");
  }

  // ---- base counts, peak, audit ------------------------------------------------------------
  // Reads the audit log.
  async function loadAudit() {
    const generation = state.generation;
    const answer = await api("GET", sitePath("/audit"));
    if (generation !== state.generation) return;
    state.answers.audit = answer;
    renderAudit(answer);
  }

  // The audit log as a table: when, by whom, what changed from what to what.
  function renderAudit(answer) {
    const rows = answer.entries.map((entry) => [formatMoment(entry.at), entry.actor, describeChange(entry)]);
    const heads = [t("time"), t("actor"), t("change")];
    byId("audit").replaceChildren(rows.length ? table(heads, rows, "audit") : make("p", "empty", t("none")));
  }

  // An audit entry's change as text: "visits: 0 → 77.445.445; /news/123: 0 → 138".
  function describeChange(entry) {
    const parts = [];
    const before = entry.before || {};
    const after = entry.after || {};
    for (const key of Object.keys({ ...before, ...after })) {
      if (key === "pages") {
        const old = before.pages || {};
        const now = after.pages || {};
        for (const page of Object.keys({ ...old, ...now })) {
          parts.push(page + ": " + shownValue(key, old[page]) + " → " + shownValue(key, now[page]));
        }
      } else {
        parts.push(key + ": " + shownValue(key, before[key]) + " → " + shownValue(key, after[key]));
      }
    }
    return parts.join("; ");
  }

  // A value of an audit entry: a time (Unix ms) for *_at fields, else a count.
  function shownValue(key, value) {
    if (value === undefined) return "–";
    return key.endsWith("_at") ? formatMoment(value) : formatNumber(value);
  }

  // The base-count form as the API's body, or the text of what is wrong with it.
  function baseBody() {
    const form = byId("base-form");
    const body = {};
    for (const name of ["visits", "pageviews"]) {
      const value = form.elements[name].value.trim();
      if (value !== "") body[name] = Number(value);
    }
    const pages = {};
    const lines = form.elements.pages.value.split("\n");
    for (const [index, raw] of lines.entries()) {
      const line = raw.trim();
      if (!line) continue;
      const match = /^(.*\S)\s+(\d+)$/.exec(line);
      if (!match) return t("badPageLine", { "%n": index + 1 });
      pages[match[1]] = Number(match[2]);
    }
    if (Object.keys(pages).length) body.pages = pages;
    return Object.keys(body).length ? body : t("baseNothing");
  }

  // Sets base counts (audited by the service), then shows the new totals and log.
  async function saveBase(event) {
    event.preventDefault();
    const error = byId("base-error");
    error.textContent = "";
    const body = baseBody();
    if (typeof body === "string") {
      error.textContent = body;
      return;
    }
    try {
      await api("POST", sitePath("/base"), body);
    } catch (failure) {
      report(failure, error);
      return;
    }
    byId("base-form").reset();
    notify(t("baseSaved"));
    await Promise.all([loadAudit(), refreshStats()]).catch(report);
  }

  // Forgets the peak online (audited by the service).
  async function resetPeak() {
    if (!window.confirm(t("confirmPeak"))) return;
    try {
      await api("DELETE", sitePath("/peak"));
    } catch (error) {
      report(error);
      return;
    }
    notify(t("peakDone"));
    await Promise.all([loadAudit(), refreshStats()]).catch(report);
  }

  // ---- pages -------------------------------------------------------------------------------
  // Lists the pages counted one by one (from the start, or the next batch).
  async function loadPages(fromStart) {
    const generation = state.generation;
    const cursor = fromStart ? 0 : state.pageCursor;
    const answer = await api("GET", sitePath("/pages?count=" + PAGE_BATCH + "&cursor=" + cursor));
    if (generation !== state.generation) return;
    if (fromStart) state.pages = new Map();
    for (const item of answer.pages) state.pages.set(item.page, item.views);
    state.pageCursor = answer.cursor;
    state.pageTotals = { tracked: answer.tracked, max: answer.max_pages };
    renderPages();
  }

  // The page list: a checkbox, the page and its views (base included) on each row.
  function renderPages() {
    const box = byId("pages-list");
    if (!state.pageTotals) return;
    const totals = state.pageTotals;
    byId("pages-tracked").textContent = t("tracked", { "%n": formatNumber(totals.tracked), "%m": formatNumber(totals.max) });
    byId("pages-more").hidden = state.pageCursor === 0;
    if (state.pages.size === 0) {
      box.replaceChildren(make("p", "empty", t("none")));
      return;
    }
    const rows = [...state.pages.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const element = table(["", t("page"), t("views")], rows.map(([page, views]) => ["", page, views]), "pages");
    for (const [index, line] of [...element.tBodies[0].rows].entries()) {
      line.cells[0].className = "pick";
      const checkbox = make("input");
      checkbox.type = "checkbox";
      checkbox.name = "page";
      checkbox.value = rows[index][0];
      checkbox.setAttribute("aria-label", t("select", { "%s": rows[index][0] }));
      line.cells[0].replaceChildren(checkbox);
    }
    box.replaceChildren(element);
  }

  // Prunes the checked pages from the list (their views stay in the totals).
  async function pruneSelected(event) {
    event.preventDefault();
    const pages = [...byId("pages-list").querySelectorAll("input[name=page]:checked")].map((box) => box.value);
    if (pages.length === 0) {
      notify(t("pickPages"), true);
      return;
    }
    await prune({ pages }, pages.length);
  }

  // Prunes every page below so many views.
  async function pruneBelow(event) {
    event.preventDefault();
    const below = Number(byId("prune-below").value);
    if (!below) {
      byId("prune-below").focus();
      return;
    }
    await prune({ below }, null);
  }

  // Asks, prunes, says how many went, lists the pages again.
  async function prune(body, count) {
    const asked = count === null
      ? t("pruneBelow") + " " + formatNumber(body.below) + "?"
      : t("confirmPrune", { "%n": formatNumber(count) });
    if (!window.confirm(asked)) return;
    try {
      const answer = await api("POST", sitePath("/pages/prune"), body);
      notify(t("pruned", { "%n": formatNumber(answer.removed) }));
      await loadPages(true);
    } catch (error) {
      report(error);
    }
  }

  // ---- polls -------------------------------------------------------------------------------
  // Reads every poll of the site with its results (the live results while the view shows).
  async function loadPolls() {
    const generation = state.generation;
    const answer = await api("GET", "admin/polls?site=" + encodeURIComponent(state.config.id));
    if (generation !== state.generation) return;
    state.polls = answer.polls;
    renderPolls(false);
  }

  // The poll list: cards are updated in place (so focus stays where it is), and replaced only
  // when a poll itself changed.
  function renderPolls(redraw) {
    const list = byId("poll-list");
    if (state.polls.length === 0) {
      list.replaceChildren(make("p", "empty", t("noPolls")));
      return;
    }
    const cards = new Map([...list.querySelectorAll("[data-poll]")].map((card) => [card.dataset.poll, card]));
    const wanted = state.polls.map((poll) => {
      const old = cards.get(poll.id);
      if (old && !redraw && old.dataset.shape === pollShape(poll)) {
        updateResults(old, poll);
        return old;
      }
      return pollCard(poll);
    });
    const same = wanted.length === list.children.length && wanted.every((card, index) => list.children[index] === card);
    if (!same) list.replaceChildren(...wanted);
  }

  // What a card shows besides its counts: when it changes, the card is drawn again.
  function pollShape(poll) {
    return JSON.stringify({ ...poll, results: null, server_time: null, voted: null });
  }

  // One poll: question, state, schedule, results, and what can be done with it.
  function pollCard(poll) {
    const card = make("article", "poll");
    card.dataset.poll = poll.id;
    card.dataset.shape = pollShape(poll);
    const headingId = "poll-" + poll.id;
    card.setAttribute("aria-labelledby", headingId);
    const heading = make("h2", "", poll.question);
    heading.id = headingId;
    const meta = make("p", "meta");
    meta.append(make("span", "state state-" + poll.state, t(poll.state)), " · " + pollFacts(poll).join(" · "));
    const results = make("ul", "results");
    for (const option of poll.options) {
      const item = make("li");
      item.dataset.option = option.id;
      const track = make("div", "bar-track");
      track.append(make("div", "bar-fill"));
      item.append(make("span", "text", option.text), make("span", "count"), track);
      results.append(item);
    }
    const voters = make("p", "voters");
    voters.append(t("voters") + ": ", make("strong", "voters-count"));
    card.append(heading, meta, results, voters, pollActions(poll));
    updateResults(card, poll);
    return card;
  }

  // The poll's schedule and rules, as short phrases.
  function pollFacts(poll) {
    return [
      t("opens", { "%s": formatMoment(poll.starts_at) }),
      poll.ends_at ? t("closes", { "%s": formatMoment(poll.ends_at) }) : t("noEnd"),
      t("choices", { "%n": poll.max_choices }),
      t("resultsShown", { "%s": t(VISIBILITY[poll.results_visibility]) }),
      ...(poll.allow_change ? [t("changeAllowed")] : []),
    ];
  }

  // The poll's buttons, each named with the poll's question for screen readers.
  function pollActions(poll) {
    const actions = make("div", "actions");
    const button = (key, className, handler) => {
      const element = make("button", className, t(key));
      element.type = "button";
      element.dataset.action = key;
      element.setAttribute("aria-label", t(key) + ": " + poll.question);
      element.addEventListener("click", () => handler(poll).catch(report));
      actions.append(element);
    };
    button("edit", "secondary", editPoll);
    if (poll.state === "closed") button("reopen", "secondary", reopenPoll);
    else button("closeNow", "secondary", closePoll);
    button("exportCsv", "secondary", exportPoll);
    button("remove", "danger", deletePoll);
    return actions;
  }

  // Puts a poll's current counts on its card (votes, share of voters, voters).
  function updateResults(card, poll) {
    const results = poll.results || { votes: {}, voters: 0 };
    for (const item of card.querySelectorAll("[data-option]")) {
      const votes = results.votes[item.dataset.option] || 0;
      const share = results.voters ? votes / results.voters : 0;
      const percent = new Intl.NumberFormat(state.language, { style: "percent", maximumFractionDigits: 1 }).format(share);
      item.querySelector(".count").textContent = formatNumber(votes) + " (" + percent + ")";
      item.querySelector(".bar-fill").style.width = (share * 100).toFixed(1) + "%";
    }
    card.querySelector(".voters-count").textContent = formatNumber(results.voters);
  }

  // The poll form back to a blank new poll.
  function resetPollForm() {
    state.editing = null;
    byId("poll-form").reset();
    byId("poll-options").replaceChildren();
    addOption("", null);
    addOption("", null);
    byId("poll-error").textContent = "";
    renderPollForm();
  }

  // The poll form's labels, for a new poll or the one being edited.
  function renderPollForm() {
    byId("poll-form-title").textContent = t(state.editing ? "pollEdit" : "pollNew");
    byId("poll-submit").textContent = t(state.editing ? "update" : "create");
    byId("poll-cancel").hidden = !state.editing;
    for (const [index, item] of [...byId("poll-options").children].entries()) {
      item.querySelector("input").setAttribute("aria-label", t("option", { "%n": index + 1 }));
      item.querySelector("button").setAttribute("aria-label", t("removeOption", { "%n": index + 1 }));
      item.querySelector("button").textContent = "×";
    }
  }

  // Adds an option field (an existing option keeps its id, so a fixed typo keeps its votes).
  function addOption(text, id) {
    const item = make("li");
    const input = make("input");
    input.name = "option";
    input.maxLength = 200;
    input.value = text;
    if (id) input.dataset.option = id;
    const remove = make("button", "danger");
    remove.type = "button";
    remove.addEventListener("click", () => removeOption(item));
    item.append(input, remove);
    byId("poll-options").append(item);
    renderPollForm();
    return input;
  }

  // Removes an option field (two stay at least), and keeps the focus in the list.
  function removeOption(item) {
    const list = byId("poll-options");
    if (list.children.length <= 2) return;
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    renderPollForm();
    next.querySelector("input").focus();
  }

  // Fills the form with a poll to edit it.
  async function editPoll(poll) {
    state.editing = poll;
    const form = byId("poll-form");
    form.elements.question.value = poll.question;
    form.elements.max_choices.value = poll.max_choices;
    form.elements.starts_at.value = localInput(poll.starts_at);
    form.elements.ends_at.value = localInput(poll.ends_at);
    form.elements.results_visibility.value = poll.results_visibility;
    form.elements.allow_change.checked = poll.allow_change;
    byId("poll-options").replaceChildren();
    for (const option of poll.options) addOption(option.text, option.id);
    byId("poll-error").textContent = "";
    renderPollForm();
    form.elements.question.focus();
  }

  // An API time (site-local ISO 8601) as a datetime-local field's value.
  function localInput(value) {
    return value ? value.slice(0, 16) : "";
  }

  // The poll form as the API's body: all of it for a new poll, what changed for an edit.
  function pollBody() {
    const form = byId("poll-form");
    const poll = state.editing;
    const options = [...byId("poll-options").querySelectorAll("input")]
      .filter((input) => input.value.trim())
      .map((input) => (input.dataset.option ? { id: input.dataset.option, text: input.value.trim() } : input.value.trim()));
    const body = {
      question: form.elements.question.value.trim(),
      options,
      max_choices: Number(form.elements.max_choices.value) || 1,
      results_visibility: form.elements.results_visibility.value,
      allow_change: form.elements.allow_change.checked,
    };
    for (const name of ["starts_at", "ends_at"]) {
      const value = form.elements[name].value;
      if (poll ? value !== localInput(poll[name]) : value) body[name] = value || null;
    }
    if (!poll) body.site = state.config.id;
    if (poll && body.starts_at === null) delete body.starts_at;
    return body;
  }

  // Creates the poll, or saves the one being edited.
  async function submitPoll(event) {
    event.preventDefault();
    const error = byId("poll-error");
    error.textContent = "";
    const editing = state.editing;
    try {
      if (editing) await api("PATCH", "admin/polls/" + encodeURIComponent(editing.id), pollBody());
      else await api("POST", "admin/polls", pollBody());
    } catch (failure) {
      report(failure, error);
      return;
    }
    resetPollForm();
    notify(t(editing ? "pollSaved" : "created"));
    await loadPolls();
  }

  // Closes a poll now: its end (and start, if still scheduled) set to the service's now.
  async function closePoll(poll) {
    const fresh = await api("GET", "admin/polls/" + encodeURIComponent(poll.id));
    const body = { ends_at: fresh.server_time };
    if (fresh.state === "scheduled") body.starts_at = fresh.server_time;
    if (fresh.state !== "closed") await api("PATCH", "admin/polls/" + encodeURIComponent(poll.id), body);
    notify(t("pollClosed"));
    await loadPolls();
  }

  // Opens a closed poll again, with no end.
  async function reopenPoll(poll) {
    await api("PATCH", "admin/polls/" + encodeURIComponent(poll.id), { ends_at: null });
    notify(t("pollReopened"));
    await loadPolls();
  }

  // Deletes a poll and its votes, once confirmed.
  async function deletePoll(poll) {
    if (!window.confirm(t("confirmDelete", { "%s": poll.question }))) return;
    await api("DELETE", "admin/polls/" + encodeURIComponent(poll.id));
    if (state.editing && state.editing.id === poll.id) resetPollForm();
    notify(t("pollDeleted"));
    await loadPolls();
  }

  // Downloads a poll's results as CSV (fetched with the token, saved from memory).
  async function exportPoll(poll) {
    const path = "admin/polls/" + encodeURIComponent(poll.id) + "/export?format=csv";
    const response = await send(path, { headers: { Authorization: "Bearer " + state.token } });
    if (!response.ok) {
      const failure = await failureOf(response);
      if (isRefusal(failure)) signOut(refusalText(failure, "revoked"));
      throw failure;
    }
    const link = make("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "poll-" + poll.id + ".csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  // ---- start -------------------------------------------------------------------------------
  // Wires every control to its handler.
  function wire() {
    byId("signin-form").addEventListener("submit", signIn);
    byId("sign-out").addEventListener("click", () => signOut(""));
    byId("language").addEventListener("change", chooseLanguage);
    byId("site-select").addEventListener("change", (event) => selectSite(event.target.value, false));
    byId("daily-range").addEventListener("change", () => changeRange().catch(report));
    byId("settings-form").addEventListener("submit", saveSettings);
    byId("secret-rotate").addEventListener("click", rotateSecret);
    byId("secret-remove").addEventListener("click", removeSecret);
    byId("base-form").addEventListener("submit", saveBase);
    byId("peak-reset").addEventListener("click", resetPeak);
    byId("pages-form").addEventListener("submit", pruneSelected);
    byId("prune-below-form").addEventListener("submit", pruneBelow);
    byId("pages-more").addEventListener("click", () => loadPages(false).catch(report));
    byId("poll-form").addEventListener("submit", submitPoll);
    byId("poll-cancel").addEventListener("click", resetPollForm);
    byId("poll-add-option").addEventListener("click", () => addOption("", null).focus());
    window.addEventListener("hashchange", () => state.token && showView(viewFromHash(), true));
    window.addEventListener("resize", resizeCharts);
    document.addEventListener("visibilitychange", refreshWhenShown);
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    byId("timezones").replaceChildren(...zones.map((zone) => new Option(zone)));
  }

  // Brings the tiles up to date at once when the tab shows again.
  function refreshWhenShown() {
    if (!document.hidden && state.token && state.config) refreshStats().catch(report);
  }

  // Opens the console with the token this tab holds, or asks for one.
  async function start() {
    wire();
    state.language = defaultLanguage();
    translatePage();
    const token = readSession(TOKEN_KEY);
    if (!token) {
      showSignIn("");
      return;
    }
    try {
      const answer = await api("GET", "admin/sites", undefined, token);
      state.token = token;
      await enter(answer.sites);
    } catch (failure) {
      if (!(failure instanceof ApiFailure)) throw failure;
      writeSession(TOKEN_KEY, null);
      showSignIn(isRefusal(failure) ? refusalText(failure, "revoked") : failure.message);
    }
  }

  start();
})();
