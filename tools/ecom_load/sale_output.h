// Writers of the flash-sale figures (sale_types.h): the open-loop schedule, the opening bell, the
// fairness audit and the retries. For each: lines of the human summary, the JSON value of its
// key in the --json object, and a section of the --report page (tables and inline SVG).
// summary_output.cc and html_report.cc call them; no I/O besides the stream given.
#pragma once

#include <ostream>
#include <string>

#include "tools/ecom_load/latency_histogram.h"
#include "tools/ecom_load/sale_types.h"

namespace ecom::load {

// "open loop: target 1,000/s (constant) for 3.0 s: sent …" and the latency line: corrected is
// the run's latency measured from each request's intended send time (the summary's latency),
// the report's service_latency the uncorrected one.
void write_open_loop_lines(std::ostream& out, const open_loop_report& report,
                           const latency_histogram& corrected);
std::string open_loop_json(const open_loop_report& report);
// "Arrival rate vs answer rate": the figures and the target, sent and answered rates per slot.
std::string open_loop_html(const open_loop_report& report);

// "opening bell: …", "opening second: …" and "server during the opening: …".
void write_opening_lines(std::ostream& out, const opening_report& report);
std::string opening_json(const opening_report& report);
// "Opening bell" (figures), "Opening second timeline" (per slot: sent, answers by kind) and
// "Server metrics during the opening" (mailbox depth, WAL group size per sample).
std::string opening_html(const opening_report& report);

// "fairness: N of M losers sent earlier than a winner …" and "worst: …" when there is one.
void write_fairness_lines(std::ostream& out, const fairness_report& report);
std::string fairness_json(const fairness_report& report);
// "Fairness": the figures and winners (up) and losers (down) per send-time bin, the inversion
// region shaded.
std::string fairness_html(const fairness_report& report);

// "retries: on 503; idempotency keys on; …".
void write_retry_lines(std::ostream& out, const retry_report& report);
std::string retry_json(const retry_report& report);
std::string retry_html(const retry_report& report);

}  // namespace ecom::load
