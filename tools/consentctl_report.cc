// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0
//
// `consentctl report --html=FILE`: one self-contained HTML file for the
// privacy officer. Inline CSS, charts as inline SVG drawn here, no script,
// no external resource: it opens in a browser without network access.
//
// Sections: decisions and denials over time (all, per accessor, per
// purpose), flagged accessors (leak.h `DetectLeaks` over the last
// --recent-hours against the rest of the period), requests in progress
// (--requests-dir), contractors and other recipients due for monitoring
// (--registry with --policy).

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "consentctl_audit.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentctl_sources.h"
#include "consentctl_stores.h"
#include "consentry/leak.h"
#include "consentry/policy.h"
#include "consentry/proto_io.h"
#include "consentry/recipients.h"
#include "consentry/requests.h"
#include "consentry/v1/recipient.pb.h"
#include "consentry/v1/request.pb.h"
#include "google/protobuf/util/time_util.h"

namespace consentctl {
namespace {

namespace v1 = ::consentry::v1;

std::string Html(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Allowed and denied counts per time bucket.
struct Series {
  std::vector<std::int64_t> allowed;
  std::vector<std::int64_t> denied;
  std::int64_t total_allowed = 0;
  std::int64_t total_denied = 0;
};

// A stacked bar chart (allowed below, denied on top) as inline SVG.
std::string BarChart(const std::string& title,
                     const std::vector<std::string>& labels, const Series& s,
                     int width, int height) {
  const int left = 52, right = 8, top = 22, bottom = 30;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  std::int64_t max = 1;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    max = std::max(max, s.allowed[i] + s.denied[i]);
  }
  // A round top for the axis: 1, 2 or 5 times a power of ten.
  std::int64_t step = 1;
  while (step * 10 < max) step *= 10;
  std::int64_t axis = step;
  while (axis < max) axis += step;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
      "aria-label=\"%s\"><title>%s</title>\n",
      width, height, width, height, Html(title), Html(title));
  absl::StrAppendFormat(&svg,
                        "<text class=\"ct\" x=\"%d\" y=\"14\">%s</text>\n",
                        left, Html(title));
  for (int g = 0; g <= 2; ++g) {
    const double v = static_cast<double>(axis) * g / 2.0;
    const double y = top + plot_h - plot_h * g / 2.0;
    absl::StrAppendFormat(
        &svg,
        "<line class=\"grid\" x1=\"%d\" x2=\"%d\" "
        "y1=\"%.1f\" y2=\"%.1f\"/><text class=\"ax\" "
        "x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
        left, left + plot_w, y, y, left - 4, y + 4, v);
  }
  const std::size_t n = std::max<std::size_t>(labels.size(), 1);
  const double slot = static_cast<double>(plot_w) / static_cast<double>(n);
  const double bar = std::max(1.0, slot * 0.8);
  const std::size_t label_every = std::max<std::size_t>(1, n / 8);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double x = left + slot * static_cast<double>(i) + (slot - bar) / 2;
    const double ha =
        plot_h * static_cast<double>(s.allowed[i]) / static_cast<double>(axis);
    const double hd =
        plot_h * static_cast<double>(s.denied[i]) / static_cast<double>(axis);
    const double base = top + plot_h;
    absl::StrAppendFormat(
        &svg,
        "<rect class=\"allow\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
        "height=\"%.1f\"><title>%s: %d allowed</title></rect>"
        "<rect class=\"deny\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
        "height=\"%.1f\"><title>%s: %d denied</title></rect>\n",
        x, base - ha, bar, ha, Html(labels[i]), s.allowed[i], x, base - ha - hd,
        bar, hd, Html(labels[i]), s.denied[i]);
    if (i % label_every == 0) {
      absl::StrAppendFormat(&svg,
                            "<text class=\"ax\" x=\"%.1f\" y=\"%d\" "
                            "text-anchor=\"middle\">%s</text>\n",
                            x + bar / 2, height - 10, Html(labels[i]));
    }
  }
  absl::StrAppendFormat(&svg,
                        "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" "
                        "y2=\"%d\"/>\n</svg>",
                        left, left + plot_w, top + plot_h, top + plot_h);
  return svg;
}

constexpr absl::string_view kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP",sans-serif;margin:2em auto;max-width:1100px;color:#1d2433;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #d6dbe4;padding-bottom:.2em;margin-top:1.8em}
.meta{color:#5b6475}.grid2{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d6dbe4;border-radius:6px;padding:6px;background:#fafbfc}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #d6dbe4;padding:4px 8px;text-align:left;font-size:.92em}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#a11d2b;font-weight:600}.ok{color:#1d6b3a}.none{color:#5b6475;font-style:italic}
svg.chart rect.allow{fill:#3a8f5c}svg.chart rect.deny{fill:#c8414f}
svg.chart .grid{stroke:#e3e7ee;stroke-width:1}svg.chart .axis{stroke:#8a93a3;stroke-width:1}
svg.chart text{font-size:10px;fill:#5b6475}svg.chart text.ct{font-size:12px;fill:#1d2433;font-weight:600}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
@media print{.card{break-inside:avoid}}
)css";

// The report's period and limits, from the flags.
struct ReportOptions {
  absl::Time from;
  absl::Time to;
  int recent_hours = 0;
  int top = 0;
  int due_days = 0;
  std::string bucket_name;
  absl::Duration bucket;
  std::int64_t buckets = 0;
};

// Reads the period, the bucket and the limits. Errors: `kInvalidArgument`
// with the usage message.
absl::Status ParseReportOptions(const ParsedArgs& a, ReportOptions& o) {
  o.to = absl::Now();
  if (a.Has("to")) {
    if (absl::Status s = ParseTimeFlag("to", a.Get("to"), o.to); !s.ok()) {
      return s;
    }
  }
  int days = 0;
  if (!absl::SimpleAtoi(a.Get("days"), &days) || days <= 0 ||
      !absl::SimpleAtoi(a.Get("recent-hours"), &o.recent_hours) ||
      o.recent_hours <= 0 || !absl::SimpleAtoi(a.Get("top"), &o.top) ||
      o.top <= 0 || !absl::SimpleAtoi(a.Get("due-within-days"), &o.due_days) ||
      o.due_days < 0) {
    return absl::InvalidArgumentError(
        "--days, --recent-hours, --top and "
        "--due-within-days must be positive numbers");
  }
  o.from = o.to - absl::Hours(24) * days;
  if (a.Has("from")) {
    if (absl::Status s = ParseTimeFlag("from", a.Get("from"), o.from);
        !s.ok()) {
      return s;
    }
  }
  if (o.from >= o.to) {
    return absl::InvalidArgumentError("--from must be before --to");
  }
  o.bucket_name = a.Get("bucket");
  if (o.bucket_name != "day" && o.bucket_name != "hour") {
    return absl::InvalidArgumentError("--bucket must be day or hour");
  }
  o.bucket = o.bucket_name == "day" ? absl::Hours(24) : absl::Hours(1);
  o.buckets = std::min<std::int64_t>(
      2000, (o.to - o.from + o.bucket - absl::Nanoseconds(1)) / o.bucket);
  return absl::OkStatus();
}

// Decisions per bucket: all, per accessor and per purpose.
struct Tally {
  std::vector<std::string> labels;
  Series all;
  std::map<std::string, Series> per_accessor;
  std::map<std::string, Series> per_purpose;
};

// Counts the allowed and denied decisions of `events` in each bucket.
Tally CountDecisions(const std::vector<consentry::OwnedAuditEvent>& events,
                     const ReportOptions& o) {
  Tally t;
  for (std::int64_t i = 0; i < o.buckets; ++i) {
    t.labels.push_back(
        absl::FormatTime(o.bucket_name == "day" ? "%m-%d" : "%d %H:00",
                         o.from + o.bucket * i, absl::UTCTimeZone()));
  }
  auto empty = [&] {
    Series s;
    s.allowed.assign(static_cast<std::size_t>(o.buckets), 0);
    s.denied.assign(static_cast<std::size_t>(o.buckets), 0);
    return s;
  };
  t.all = empty();
  for (const consentry::OwnedAuditEvent& e : events) {
    const absl::Time when = absl::FromUnixNanos(e.time_unix_nanos);
    std::int64_t b = (when - o.from) / o.bucket;
    if (b < 0 || b >= o.buckets) continue;
    const auto i = static_cast<std::size_t>(b);
    for (Series* s :
         {&t.all,
          &t.per_accessor.try_emplace(e.accessor, empty()).first->second,
          &t.per_purpose.try_emplace(e.purpose, empty()).first->second}) {
      if (e.allowed()) {
        ++s->allowed[i];
        ++s->total_allowed;
      } else {
        ++s->denied[i];
        ++s->total_denied;
      }
    }
  }
  return t;
}

// Each accessor with a finding, once, in the order of the findings.
std::vector<std::string> FlaggedAccessors(const consentry::LeakReport& leaks) {
  std::vector<std::string> flagged;
  for (const consentry::LeakFinding& f : leaks.findings) {
    if (std::find(flagged.begin(), flagged.end(), f.accessor) ==
        flagged.end()) {
      flagged.push_back(f.accessor);
    }
  }
  return flagged;
}

// The page head, the period line and the summary table.
void AppendHeader(const ReportOptions& o, const std::string& audit_dir,
                  std::size_t events, const Tally& t, std::size_t flagged,
                  std::string& html) {
  absl::StrAppend(
      &html,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>consentry privacy report</title><style>",
      kStyle, "</style></head><body>\n<h1>Privacy officer report</h1>\n",
      "<p class=\"meta\">Period ", Html(TimeText(o.from)), " to ",
      Html(TimeText(o.to)), " &middot; generated ", Html(TimeText(absl::Now())),
      " &middot; access log <code>", Html(audit_dir), "</code> &middot; ",
      events, " events</p>\n");
  absl::StrAppend(
      &html,
      "<h2 id=\"summary\">Summary</h2>\n<table><tr>"
      "<th>Decisions</th><th>Allowed</th><th>Denied</th>"
      "<th>Accessors</th><th>Flagged accessors</th></tr><tr>",
      "<td class=\"num\">", t.all.total_allowed + t.all.total_denied,
      "</td><td class=\"num\">", t.all.total_allowed, "</td><td class=\"num\">",
      t.all.total_denied, "</td><td class=\"num\">", t.per_accessor.size(),
      "</td><td class=\"num\">");
  absl::StrAppend(&html, flagged, "</td></tr></table>\n");
}

// One breakdown (per accessor or per purpose): a table of every key with
// its denial rate, flagged accessors marked, and charts for the `top`
// busiest keys.
void AppendBreakdown(const std::string& id, const std::string& heading,
                     const std::map<std::string, Series>& m,
                     const std::string& what,
                     const std::vector<std::string>& flagged,
                     const std::vector<std::string>& labels, int top,
                     std::string& html) {
  std::vector<std::pair<std::int64_t, std::string>> order;
  for (const auto& [k, s] : m) {
    order.emplace_back(-(s.total_allowed + s.total_denied), k);
  }
  std::sort(order.begin(), order.end());
  absl::StrAppend(
      &html, "<h2 id=\"", id, "\">", heading, "</h2>\n<table><tr><th>", what,
      "</th><th>Allowed</th><th>Denied</th><th>Denial rate</th></tr>\n");
  for (const auto& [neg, k] : order) {
    const Series& s = m.at(k);
    const std::int64_t total = s.total_allowed + s.total_denied;
    const bool is_flagged =
        what == "Accessor" &&
        std::find(flagged.begin(), flagged.end(), k) != flagged.end();
    absl::StrAppendFormat(
        &html,
        "<tr><td%s>%s%s</td><td class=\"num\">%d</td><td class=\"num\">%d"
        "</td><td class=\"num\">%.1f%%</td></tr>\n",
        is_flagged ? " class=\"flag\"" : "", Html(k.empty() ? "(none)" : k),
        is_flagged ? " &#9873; flagged" : "", s.total_allowed, s.total_denied,
        total ? 100.0 * static_cast<double>(s.total_denied) /
                    static_cast<double>(total)
              : 0.0);
  }
  absl::StrAppend(&html, "</table>\n<div class=\"grid2\">\n");
  int shown = 0;
  for (const auto& [neg, k] : order) {
    if (shown++ >= top) break;
    absl::StrAppend(&html, "<div class=\"card\">",
                    BarChart(what + ": " + (k.empty() ? "(none)" : k), labels,
                             m.at(k), 510, 170),
                    "</div>\n");
  }
  absl::StrAppend(&html, "</div>\n");
  if (order.empty()) {
    absl::StrAppend(&html, "<p class=\"none\">No events in the period.</p>\n");
  }
}

// Decisions and denials over time: the chart of all accessors, then the
// breakdowns per accessor and per purpose.
void AppendCharts(const ReportOptions& o, const Tally& t,
                  const std::vector<std::string>& flagged, std::string& html) {
  absl::StrAppend(
      &html,
      "<h2 id=\"decisions\">Decisions and denials over time</h2>\n"
      "<p class=\"legend\"><span style=\"background:#3a8f5c\"></span>allowed"
      "<span style=\"background:#c8414f\"></span>denied &middot; one bar per ",
      o.bucket_name, " (UTC)</p>\n<div class=\"card\">",
      BarChart("All accessors", t.labels, t.all, 1040, 220), "</div>\n");
  AppendBreakdown("per-accessor", "Per accessor", t.per_accessor, "Accessor",
                  flagged, t.labels, o.top, html);
  AppendBreakdown("per-purpose", "Per purpose", t.per_purpose, "Purpose",
                  flagged, t.labels, o.top, html);
}

// Flagged accessors: each finding of the leak detection.
void AppendLeaks(const consentry::LeakReport& leaks, int recent_hours,
                 std::size_t base_events, std::size_t recent_events,
                 std::string& html) {
  absl::StrAppend(&html, "<h2 id=\"flagged\">Flagged accessors</h2>\n",
                  "<p class=\"meta\">The last ", recent_hours,
                  " hours checked against each accessor's baseline from the "
                  "rest of the period (",
                  base_events, " baseline events, ", recent_events,
                  " recent).</p>\n");
  if (leaks.findings.empty()) {
    absl::StrAppend(&html, "<p class=\"ok\">No accessor flagged.</p>\n");
  } else {
    absl::StrAppend(&html,
                    "<table><tr><th>Accessor</th><th>Signal</th>"
                    "<th>Hour</th><th>Observed</th><th>Threshold</th>"
                    "<th>Detail</th></tr>\n");
    for (const consentry::LeakFinding& f : leaks.findings) {
      absl::StrAppendFormat(
          &html,
          "<tr><td class=\"flag\">%s</td><td>%s</td><td>%s</td><td "
          "class=\"num\">%.0f</td><td "
          "class=\"num\">%.1f</td><td>%s</td></tr>\n",
          Html(f.accessor), Html(consentry::LeakSignalName(f.signal)),
          Html(TimeText(f.hour)), f.observed, f.expected, Html(f.detail));
    }
    absl::StrAppend(&html, "</table>\n");
  }
}

// Requests in progress (neither answered nor refused), from the request
// files, each with its answer due time; those past it at `as_of` (the end
// of the report's period) are flagged "overdue" and counted first.
// Returns the exit status: `kExitOk`, or that of a failure.
int AppendRequests(const ParsedArgs& a, absl::Time as_of, std::string& html) {
  absl::StrAppend(&html, "<h2 id=\"requests\">Requests in progress</h2>\n");
  // The legacy directory with --requests-dir; the store's requests
  // otherwise (none when the SQLite file does not exist).
  const bool from_store = !a.Has("requests-dir");
  const std::string requests_dir = a.Get("requests-dir");
  absl::StatusOr<Stores> stores = absl::NotFoundError("");
  if (from_store) {
    stores = OpenStores(a, /*create_if_missing=*/false);
    if (!stores.ok() && !absl::IsNotFound(stores.status())) {
      return Fail("report: requests", stores.status());
    }
  }
  if (from_store && !stores.ok()) {
    absl::StrAppend(&html, "<p class=\"none\">No request store (",
                    Html(a.Get("sqlite")), ").</p>\n");
  } else if (!from_store && !std::filesystem::exists(requests_dir)) {
    absl::StrAppend(&html, "<p class=\"none\">No request directory (",
                    Html(requests_dir), ").</p>\n");
  } else {
    absl::StatusOr<consentry::RequestListing> requests;
    if (from_store) {
      requests = (*stores).requests->ListAll();
    } else {
      absl::StatusOr<std::vector<v1::SubjectRequest>> loaded =
          LoadRequests(requests_dir);
      if (loaded.ok()) {
        requests = consentry::RequestListing{*std::move(loaded), {}};
      } else {
        requests = loaded.status();
      }
    }
    if (!requests.ok()) return Fail("report: requests", requests.status());
    if (!requests->unreadable.empty()) {
      // Their deadlines are unknown: each may be overdue.
      absl::StrAppend(&html, "<p class=\"flag\">", requests->unreadable.size(),
                      " stored request(s) cannot be read and may be past "
                      "their deadline:</p>\n<ul>\n");
      for (const consentry::UnreadableRequest& u : requests->unreadable) {
        absl::StrAppend(&html, "<li>", Html(u.id), ": ",
                        Html(u.status.message()), "</li>\n");
      }
      absl::StrAppend(&html, "</ul>\n");
    }
    std::vector<const v1::SubjectRequest*> open;
    for (const v1::SubjectRequest& r : requests->requests) {
      if (r.state() != v1::REQUEST_STATE_ANSWERED &&
          r.state() != v1::REQUEST_STATE_REFUSED) {
        open.push_back(&r);
      }
    }
    int overdue = 0;
    for (const v1::SubjectRequest* r : open) {
      overdue += consentry::IsOverdue(*r, as_of) ? 1 : 0;
    }
    if (open.empty()) {
      absl::StrAppend(&html, "<p class=\"ok\">No request in progress.</p>\n");
    } else {
      absl::StrAppend(
          &html,
          overdue > 0
              ? absl::StrCat("<p class=\"flag\">", overdue, " of ", open.size(),
                             " past their answer deadline at ",
                             Html(TimeText(as_of)), ".</p>\n")
              : absl::StrCat("<p class=\"ok\">None past its answer deadline "
                             "at ",
                             Html(TimeText(as_of)), ".</p>\n"),
          "<table><tr><th>Id</th><th>Kind</th><th>State"
          "</th><th>Subject</th><th>Received</th><th>Days "
          "open</th><th>Answer due</th><th>Last step</th></tr>\n");
      for (const v1::SubjectRequest* r : open) {
        const absl::Time received =
            absl::FromUnixSeconds(r->receive_time().seconds());
        const std::string last =
            r->transitions().empty() ? "" : r->transitions().rbegin()->step();
        const bool late = consentry::IsOverdue(*r, as_of);
        absl::StrAppendFormat(
            &html,
            "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td "
            "class=\"num\">%d</td><td%s>%s%s</td><td>%s</td></tr>\n",
            Html(r->id()), Html(consentry::RequestKindName(r->kind())),
            Html(consentry::RequestStateName(r->state())),
            Html(r->subject_id()), Html(TimeText(received)),
            (absl::Now() - received) / absl::Hours(24),
            late ? " class=\"flag\"" : "",
            Html(TimeText(consentry::AnswerDue(*r))), late ? " overdue" : "",
            Html(last));
      }
      absl::StrAppend(&html, "</table>\n");
    }
  }
  return kExitOk;
}

// Contractors and recipients due for monitoring within `due_days` of `to`
// (--registry with --policy). Returns the exit status: `kExitOk`, or that
// of a failure.
int AppendDueRecipients(const ParsedArgs& a, absl::Time to, int due_days,
                        std::string& html) {
  absl::StrAppend(&html,
                  "<h2 id=\"due\">Contractors and recipients due for "
                  "monitoring</h2>\n");
  if (!a.Has("registry")) {
    absl::StrAppend(&html,
                    "<p class=\"none\">No recipient registry given "
                    "(--registry, --policy).</p>\n");
  } else {
    LoadedRegistry loaded;
    if (int rc = LoadRegistry(a, "report: policy", "report: registry", loaded);
        rc != kExitOk) {
      return rc;
    }
    auto due = consentry::RecipientsDueForMonitoring(
        *loaded.registry, to, absl::Hours(24) * due_days);
    if (due.empty()) {
      absl::StrAppend(&html, "<p class=\"ok\">No recipient due within ",
                      due_days, " days.</p>\n");
    } else {
      absl::StrAppend(&html,
                      "<table><tr><th>Recipient</th><th>Name</th><th>"
                      "Kind</th><th>Due</th><th>Status</th></tr>\n");
      for (const consentry::MonitoringDueEntry& e : due) {
        std::string kind = v1::RecipientKind_Name(e.kind);
        if (kind.rfind("RECIPIENT_KIND_", 0) == 0) kind = kind.substr(15);
        for (char& c : kind) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        absl::StrAppendFormat(&html,
                              "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</"
                              "td><td%s>%s</td></tr>\n",
                              Html(e.recipient_id), Html(e.name), Html(kind),
                              Html(TimeText(e.due)),
                              e.overdue ? " class=\"flag\"" : "",
                              e.overdue ? "overdue" : "due");
      }
      absl::StrAppend(&html, "</table>\n");
    }
  }
  return kExitOk;
}

}  // namespace

int RunReport(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = {
      {"html", "FILE", "where to write the report; required", ""},
      {"audit-dir", "DIR[,DIR...]",
       "the access log; required (several: one per service, merged)", ""},
      {"requests-dir", "DIR",
       "legacy: the request files (see 'request --help') instead of the "
       "store's requests",
       ""},
      SqliteFlag(),
      PostgresFlag(),
      PgSchemaFlag(),
      {"registry", "FILE", "the recipient registry (with --policy)", ""},
      PolicyFlag(false),
      {"from", "TIME", "start of the period (default: --days before --to)", ""},
      {"to", "TIME", "end of the period (default: now)", ""},
      {"days", "N", "length of the period when --from is not given", "14"},
      {"bucket", "day|hour", "width of the chart bars", "day"},
      {"recent-hours", "N",
       "leak detection: the recent window, checked against the rest of "
       "the period",
       "24"},
      {"top", "N", "charts for at most N accessors and N purposes", "12"},
      {"due-within-days", "N", "recipients due for monitoring within N days",
       "30"}};
  Command cmd{"report",
              "",
              "Writes one self-contained HTML file for the privacy officer: "
              "decisions and denials over time per accessor and per purpose "
              "(inline SVG charts), flagged accessors, requests in progress "
              "and recipients due for monitoring. No scripts, no network.",
              flags,
              0,
              0};
  ParsedArgs a;
  if (int rc = Parse(cmd, argv, a); rc >= 0) return rc;
  if (!a.Has("html")) return UsageError(cmd, "--html is required");
  if (!a.Has("audit-dir")) return UsageError(cmd, "--audit-dir is required");
  if (a.Has("registry") != a.Has("policy")) {
    return UsageError(cmd, "--registry and --policy go together");
  }
  ReportOptions o;
  if (absl::Status s = ParseReportOptions(a, o); !s.ok()) {
    return UsageError(cmd, s.message());
  }
  const std::vector<std::string> logs =
      absl::StrSplit(a.Get("audit-dir"), ',', absl::SkipEmpty());
  auto events = ReadEvents(logs, o.from, o.to);
  if (!events.ok()) return Fail("report: access log", events.status());
  const Tally tally = CountDecisions(*events, o);

  // Leak detection: the recent window against the rest of the period.
  const absl::Time split = std::max(o.from, o.to - absl::Hours(o.recent_hours));
  std::vector<consentry::OwnedAuditEvent> base, recent;
  for (const consentry::OwnedAuditEvent& e : *events) {
    (absl::FromUnixNanos(e.time_unix_nanos) < split ? base : recent)
        .push_back(e);
  }
  const consentry::LeakReport leaks = consentry::DetectLeaks(base, recent);
  const std::vector<std::string> flagged = FlaggedAccessors(leaks);

  std::string html;
  AppendHeader(o, a.Get("audit-dir"), events->size(), tally, flagged.size(),
               html);
  AppendCharts(o, tally, flagged, html);
  AppendLeaks(leaks, o.recent_hours, base.size(), recent.size(), html);
  if (int rc = AppendRequests(a, o.to, html); rc != kExitOk) {
    return rc;
  }
  if (int rc = AppendDueRecipients(a, o.to, o.due_days, html); rc != kExitOk) {
    return rc;
  }
  absl::StrAppend(&html, "</body></html>\n");
  if (absl::Status s = WriteOutput(a.Get("html"), html); !s.ok()) {
    return Fail("report", s);
  }
  std::cerr << "wrote " << a.Get("html") << " (" << html.size() << " bytes, "
            << events->size() << " events)\n";
  return kExitOk;
}

}  // namespace consentctl
