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
#include "absl/time/clock.h"
#include "consentctl_audit.h"
#include "consentctl_cli.h"
#include "consentctl_commands.h"
#include "consentctl_sources.h"
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

}  // namespace

int RunReport(const std::vector<std::string>& argv) {
  std::vector<Flag> flags = {
      {"html", "FILE", "where to write the report; required", ""},
      {"audit-dir", "DIR", "the access log; required", ""},
      {"requests-dir", "DIR", "request files (see 'request --help')",
       "requests"},
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
  absl::Time to = absl::Now();
  if (a.Has("to")) {
    if (absl::Status s = ParseTimeFlag("to", a.Get("to"), to); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  int days = 0, recent_hours = 0, top = 0, due_days = 0;
  if (!absl::SimpleAtoi(a.Get("days"), &days) || days <= 0 ||
      !absl::SimpleAtoi(a.Get("recent-hours"), &recent_hours) ||
      recent_hours <= 0 || !absl::SimpleAtoi(a.Get("top"), &top) || top <= 0 ||
      !absl::SimpleAtoi(a.Get("due-within-days"), &due_days) || due_days < 0) {
    return UsageError(cmd,
                      "--days, --recent-hours, --top and "
                      "--due-within-days must be positive numbers");
  }
  absl::Time from = to - absl::Hours(24) * days;
  if (a.Has("from")) {
    if (absl::Status s = ParseTimeFlag("from", a.Get("from"), from); !s.ok()) {
      return UsageError(cmd, s.message());
    }
  }
  if (from >= to) return UsageError(cmd, "--from must be before --to");
  const std::string bucket_name = a.Get("bucket");
  if (bucket_name != "day" && bucket_name != "hour") {
    return UsageError(cmd, "--bucket must be day or hour");
  }
  const absl::Duration bucket =
      bucket_name == "day" ? absl::Hours(24) : absl::Hours(1);
  const std::int64_t buckets = std::min<std::int64_t>(
      2000, (to - from + bucket - absl::Nanoseconds(1)) / bucket);

  auto events = ReadEvents(a.Get("audit-dir"), from, to);
  if (!events.ok()) return Fail("report: access log", events.status());

  std::vector<std::string> labels;
  for (std::int64_t i = 0; i < buckets; ++i) {
    labels.push_back(
        absl::FormatTime(bucket_name == "day" ? "%m-%d" : "%d %H:00",
                         from + bucket * i, absl::UTCTimeZone()));
  }
  auto empty = [&] {
    Series s;
    s.allowed.assign(static_cast<std::size_t>(buckets), 0);
    s.denied.assign(static_cast<std::size_t>(buckets), 0);
    return s;
  };
  Series all = empty();
  std::map<std::string, Series> per_accessor, per_purpose;
  for (const consentry::OwnedAuditEvent& e : *events) {
    const absl::Time t = absl::FromUnixNanos(e.time_unix_nanos);
    std::int64_t b = (t - from) / bucket;
    if (b < 0 || b >= buckets) continue;
    const auto i = static_cast<std::size_t>(b);
    for (Series* s :
         {&all, &per_accessor.try_emplace(e.accessor, empty()).first->second,
          &per_purpose.try_emplace(e.purpose, empty()).first->second}) {
      if (e.allowed()) {
        ++s->allowed[i];
        ++s->total_allowed;
      } else {
        ++s->denied[i];
        ++s->total_denied;
      }
    }
  }

  // Leak detection: the recent window against the rest of the period.
  const absl::Time split = std::max(from, to - absl::Hours(recent_hours));
  std::vector<consentry::OwnedAuditEvent> base, recent;
  for (const consentry::OwnedAuditEvent& e : *events) {
    (absl::FromUnixNanos(e.time_unix_nanos) < split ? base : recent)
        .push_back(e);
  }
  consentry::LeakReport leaks = consentry::DetectLeaks(base, recent);

  std::string html;
  absl::StrAppend(
      &html,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>consentry privacy report</title><style>",
      kStyle, "</style></head><body>\n<h1>Privacy officer report</h1>\n",
      "<p class=\"meta\">Period ", Html(TimeText(from)), " to ",
      Html(TimeText(to)), " &middot; generated ", Html(TimeText(absl::Now())),
      " &middot; access log <code>", Html(a.Get("audit-dir")),
      "</code> &middot; ", events->size(), " events</p>\n");

  // Summary.
  absl::StrAppend(&html,
                  "<h2 id=\"summary\">Summary</h2>\n<table><tr>"
                  "<th>Decisions</th><th>Allowed</th><th>Denied</th>"
                  "<th>Accessors</th><th>Flagged accessors</th></tr><tr>",
                  "<td class=\"num\">", all.total_allowed + all.total_denied,
                  "</td><td class=\"num\">", all.total_allowed,
                  "</td><td class=\"num\">", all.total_denied,
                  "</td><td class=\"num\">", per_accessor.size(),
                  "</td><td class=\"num\">");
  std::vector<std::string> flagged;
  for (const consentry::LeakFinding& f : leaks.findings) {
    if (std::find(flagged.begin(), flagged.end(), f.accessor) ==
        flagged.end()) {
      flagged.push_back(f.accessor);
    }
  }
  absl::StrAppend(&html, flagged.size(), "</td></tr></table>\n");

  // Charts.
  absl::StrAppend(
      &html,
      "<h2 id=\"decisions\">Decisions and denials over time</h2>\n"
      "<p class=\"legend\"><span style=\"background:#3a8f5c\"></span>allowed"
      "<span style=\"background:#c8414f\"></span>denied &middot; one bar per ",
      bucket_name, " (UTC)</p>\n<div class=\"card\">",
      BarChart("All accessors", labels, all, 1040, 220), "</div>\n");
  auto section = [&](const std::string& id, const std::string& heading,
                     const std::map<std::string, Series>& m,
                     const std::string& what) {
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
      absl::StrAppend(&html,
                      "<p class=\"none\">No events in the period.</p>\n");
    }
  };
  section("per-accessor", "Per accessor", per_accessor, "Accessor");
  section("per-purpose", "Per purpose", per_purpose, "Purpose");

  // Flagged accessors.
  absl::StrAppend(&html, "<h2 id=\"flagged\">Flagged accessors</h2>\n",
                  "<p class=\"meta\">The last ", recent_hours,
                  " hours checked against each accessor's baseline from the "
                  "rest of the period (",
                  base.size(), " baseline events, ", recent.size(),
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

  // Requests in progress.
  absl::StrAppend(&html, "<h2 id=\"requests\">Requests in progress</h2>\n");
  const std::string requests_dir = a.Get("requests-dir");
  if (!std::filesystem::exists(requests_dir)) {
    absl::StrAppend(&html, "<p class=\"none\">No request directory (",
                    Html(requests_dir), ").</p>\n");
  } else {
    auto requests = LoadRequests(requests_dir);
    if (!requests.ok()) return Fail("report: requests", requests.status());
    std::vector<const v1::SubjectRequest*> open;
    for (const v1::SubjectRequest& r : *requests) {
      if (r.state() != v1::REQUEST_STATE_ANSWERED &&
          r.state() != v1::REQUEST_STATE_REFUSED) {
        open.push_back(&r);
      }
    }
    if (open.empty()) {
      absl::StrAppend(&html, "<p class=\"ok\">No request in progress.</p>\n");
    } else {
      absl::StrAppend(&html,
                      "<table><tr><th>Id</th><th>Kind</th><th>State"
                      "</th><th>Subject</th><th>Received</th><th>Days "
                      "open</th><th>Last step</th></tr>\n");
      for (const v1::SubjectRequest* r : open) {
        const absl::Time received =
            absl::FromUnixSeconds(r->receive_time().seconds());
        const std::string last =
            r->transitions().empty() ? "" : r->transitions().rbegin()->step();
        absl::StrAppendFormat(
            &html,
            "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td "
            "class=\"num\">%d</td><td>%s</td></tr>\n",
            Html(r->id()), Html(consentry::RequestKindName(r->kind())),
            Html(consentry::RequestStateName(r->state())),
            Html(r->subject_id()), Html(TimeText(received)),
            (absl::Now() - received) / absl::Hours(24), Html(last));
      }
      absl::StrAppend(&html, "</table>\n");
    }
  }

  // Contractors due.
  absl::StrAppend(&html,
                  "<h2 id=\"due\">Contractors and recipients due for "
                  "monitoring</h2>\n");
  if (!a.Has("registry")) {
    absl::StrAppend(&html,
                    "<p class=\"none\">No recipient registry given "
                    "(--registry, --policy).</p>\n");
  } else {
    auto policy = consentry::LoadAndCompilePolicy(a.Get("policy"));
    if (!policy.ok()) return Fail("report: policy", policy.status());
    auto format = consentry::FormatFromPath(a.Get("registry"));
    if (!format.ok()) return Fail("report: registry", format.status());
    auto data = consentry::ReadFileToString(a.Get("registry"));
    if (!data.ok()) return Fail("report: registry", data.status());
    v1::RecipientRegistry proto;
    if (absl::Status s =
            consentry::ParseMessage(*data, *format, proto, a.Get("registry"));
        !s.ok()) {
      return Fail("report: registry", s);
    }
    auto registry = consentry::RecipientRegistry::Create(proto, **policy);
    if (!registry.ok()) return Fail("report: registry", registry.status());
    auto due = consentry::RecipientsDueForMonitoring(
        **registry, to, absl::Hours(24) * due_days);
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
  absl::StrAppend(&html, "</body></html>\n");
  if (absl::Status s = WriteOutput(a.Get("html"), html); !s.ok()) {
    return Fail("report", s);
  }
  std::cerr << "wrote " << a.Get("html") << " (" << html.size() << " bytes, "
            << events->size() << " events)\n";
  return kExitOk;
}

}  // namespace consentctl
