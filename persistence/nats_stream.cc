#include "persistence/nats_stream.h"

#include <nats/nats.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace ecom::persistence {

namespace {

constexpr const char* first_lsn_header = "Ecomd-First-Lsn";
constexpr const char* last_lsn_header = "Ecomd-Last-Lsn";
constexpr const char* fingerprint_header = "Ecomd-Fingerprint";
// JetStream's optimistic concurrency check. Set as a header (not jsPubOptions::ExpectLastSeq,
// which the client leaves out when 0) so that the first append to an empty stream is
// fenced too.
constexpr const char* expected_last_seq_header = "Nats-Expected-Last-Sequence";

std::string last_error(natsStatus s) {
  natsStatus ignored;
  const char* text = nats_GetLastError(&ignored);
  std::string out = natsStatus_GetText(s);
  if (text != nullptr && *text != '\0') out += std::string(": ") + text;
  return out;
}

nats_result result_of(natsStatus s, jsErrCode code, std::string& error) {
  if (s == NATS_OK) return nats_result::ok;
  error = last_error(s);
  if (code == JSStreamNotFoundErr || code == JSNoMessageFoundErr || s == NATS_NOT_FOUND)
    return nats_result::not_found;
  if (code == JSStreamWrongLastSequenceErr) return nats_result::wrong_last_seq;
  return nats_result::unavailable;
}

void on_connected(natsConnection*, void*) {}

std::atomic<bool> library_used{false};
constexpr int64_t ping_interval_ms = 1000;

std::uint64_t header_u64(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return 0;
  std::uint64_t out = 0;
  const char* end = value + std::char_traits<char>::length(value);
  if (std::from_chars(value, end, out).ec != std::errc{}) return 0;
  return out;
}

void fill(natsMsg* msg, stream_message& out) {
  out.first_lsn = header_u64(msg, first_lsn_header);
  out.last_lsn = header_u64(msg, last_lsn_header);
  const char* fp = nullptr;
  out.fingerprint =
      natsMsgHeader_Get(msg, fingerprint_header, &fp) == NATS_OK && fp != nullptr ? fp : "";
  const int length = natsMsg_GetDataLength(msg);
  const char* data = natsMsg_GetData(msg);
  out.data.assign(data != nullptr ? data : "", static_cast<std::size_t>(length));
}

}  // namespace

struct nats_stream::handles {
  natsOptions* opts = nullptr;
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  ~handles() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
    if (js != nullptr) jsCtx_Destroy(js);
    if (conn != nullptr) {
      natsConnection_Close(conn);
      natsConnection_Destroy(conn);
    }
    if (opts != nullptr) natsOptions_Destroy(opts);
  }
};

nats_stream::nats_stream(nats_stream_options options)
    : options_(std::move(options)),
      subject_(options_.stream + ".wal"),
      h_(std::make_unique<handles>()) {}

nats_stream::~nats_stream() = default;

nats_result nats_stream::connect(std::string& error) {
  if (h_->conn != nullptr) {
    if (connected()) return nats_result::ok;
    error = "no NATS server answers at " + options_.urls + " (still trying)";
    return nats_result::unavailable;
  }
  // SetURL takes one URL: the list is split here and given as servers.
  std::vector<std::string> urls;
  for (std::size_t from = 0; from <= options_.urls.size();) {
    const std::size_t comma = std::min(options_.urls.find(',', from), options_.urls.size());
    if (comma > from) urls.push_back(options_.urls.substr(from, comma - from));
    from = comma + 1;
  }
  std::vector<const char*> servers;
  for (const auto& url : urls) servers.push_back(url.c_str());
  library_used.store(true);
  natsStatus s = natsOptions_Create(&h_->opts);
  if (s == NATS_OK)
    s = natsOptions_SetServers(h_->opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(h_->opts, true);
  if (s == NATS_OK) s = natsOptions_SetTimeout(h_->opts, options_.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(h_->opts, -1);  // for ever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(h_->opts, 250);
  // A connection that died without a word (no RST) is noticed within ~3 s, not minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(h_->opts, ping_interval_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(h_->opts, 2);
  // Keep trying in the background when no server answers now; requests fail until one does.
  // With a null handler Connect would block until a server answers (cnats 3.4): a no-op one.
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(h_->opts, true, on_connected, nullptr);
  if (s != NATS_OK) {
    error = "nats options: " + last_error(s);
    natsOptions_Destroy(h_->opts);
    h_->opts = nullptr;
    return nats_result::unavailable;
  }
  s = natsConnection_Connect(&h_->conn, h_->opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    error = "cannot connect to " + options_.urls + ": " + last_error(s);
    if (h_->conn != nullptr) natsConnection_Destroy(h_->conn);
    h_->conn = nullptr;
    natsOptions_Destroy(h_->opts);
    h_->opts = nullptr;
    return nats_result::unavailable;
  }
  interruptible_.store(h_->conn, std::memory_order_release);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout_ms;
  s = natsConnection_JetStream(&h_->js, h_->conn, &jo);
  if (s != NATS_OK) {
    error = "jetstream context: " + last_error(s);
    interruptible_.store(nullptr, std::memory_order_release);
    natsConnection_Destroy(h_->conn);  // the next connect() starts over
    h_->conn = nullptr;
    h_->js = nullptr;
    natsOptions_Destroy(h_->opts);
    h_->opts = nullptr;
    return nats_result::unavailable;
  }
  if (!connected()) {
    error = "no NATS server answers at " + options_.urls + " (still trying)";
    return nats_result::unavailable;
  }
  return nats_result::ok;
}

bool nats_stream::connected() const {
  return h_->conn != nullptr && natsConnection_Status(h_->conn) == NATS_CONN_STATUS_CONNECTED;
}

nats_result nats_stream::info(stream_state& out, std::string& error) {
  if (h_->js == nullptr) return error = "not connected", nats_result::unavailable;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout_ms;
  natsStatus s = js_GetStreamInfo(&si, h_->js, options_.stream.c_str(), &jo, &code);
  nats_result r = result_of(s, code, error);
  if (r == nats_result::ok && si == nullptr) r = nats_result::not_found;
  if (r == nats_result::ok) {
    out.first_seq = si->State.FirstSeq;
    out.last_seq = si->State.LastSeq;
    out.messages = si->State.Msgs;
    out.description =
        si->Config != nullptr && si->Config->Description != nullptr ? si->Config->Description : "";
    if (out.messages == 0) out.first_seq = 0;
  }
  if (si != nullptr) jsStreamInfo_Destroy(si);
  return r;
}

nats_result nats_stream::create(std::string& error) {
  if (h_->js == nullptr) return error = "not connected", nats_result::unavailable;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {subject_.c_str()};
  cfg.Name = options_.stream.c_str();
  cfg.Description = options_.description.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = options_.replicas;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout_ms;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&si, h_->js, &cfg, &jo, &code);
  if (si != nullptr) jsStreamInfo_Destroy(si);
  if (code == JSStreamNameExistErr) return nats_result::ok;  // made meanwhile by another
  return result_of(s, code, error);
}

nats_result nats_stream::get(std::uint64_t seq, stream_message& out, std::string& error) {
  if (h_->js == nullptr) return error = "not connected", nats_result::unavailable;
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout_ms;
  natsStatus s = js_GetMsg(&msg, h_->js, options_.stream.c_str(), seq, &jo, &code);
  nats_result r = result_of(s, code, error);
  if (r == nats_result::ok) {
    out.seq = seq;
    out.pending = 0;
    fill(msg, out);
  }
  if (msg != nullptr) natsMsg_Destroy(msg);
  return r;
}

nats_result nats_stream::publish(std::string_view frames, engine::lsn_t first, engine::lsn_t last,
                                 const std::string& fingerprint, std::uint64_t expect_last_seq,
                                 const std::string& msg_id, std::uint64_t& seq,
                                 std::string& error) {
  if (h_->js == nullptr) return error = "not connected", nats_result::unavailable;
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject_.c_str(), nullptr, frames.data(),
                                static_cast<int>(frames.size()));
  const std::string first_text = std::to_string(first);
  const std::string last_text = std::to_string(last);
  const std::string expect_text = std::to_string(expect_last_seq);
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, first_lsn_header, first_text.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, last_lsn_header, last_text.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, fingerprint_header, fingerprint.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, expected_last_seq_header, expect_text.c_str());
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.publish_wait_ms;
  po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, h_->js, msg, &po, &code);
  nats_result r = result_of(s, code, error);
  if (r == nats_result::ok) seq = ack->Sequence;
  if (ack != nullptr) jsPubAck_Destroy(ack);
  if (msg != nullptr) natsMsg_Destroy(msg);
  return r;
}

nats_result nats_stream::follow(std::uint64_t from_seq, std::string& error) {
  if (h_->js == nullptr) return error = "not connected", nats_result::unavailable;
  unfollow();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from_seq;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout_ms;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_SubscribeSync(&h_->sub, h_->js, subject_.c_str(), &jo, &so, &code);
  if (s != NATS_OK) h_->sub = nullptr;
  return result_of(s, code, error);
}

nats_result nats_stream::next(std::uint32_t wait_ms, stream_message& out, std::string& error) {
  if (h_->sub == nullptr) return error = "not following", nats_result::unavailable;
  natsMsg* msg = nullptr;
  natsStatus s = natsSubscription_NextMsg(&msg, h_->sub, wait_ms);
  if (s == NATS_TIMEOUT) return nats_result::not_found;
  if (s != NATS_OK) {
    error = last_error(s);
    return nats_result::unavailable;
  }
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK && meta != nullptr) {
    out.seq = meta->Sequence.Stream;
    out.pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
  } else {
    out.seq = 0;
    out.pending = 0;
  }
  fill(msg, out);
  natsMsg_Destroy(msg);
  return nats_result::ok;
}

void nats_stream::interrupt() {
  auto* conn = static_cast<natsConnection*>(interruptible_.load(std::memory_order_acquire));
  if (conn != nullptr) natsConnection_Close(conn);  // thread-safe in cnats; idempotent
}

void nats_stream::close_library() {
  if (library_used.exchange(false)) nats_CloseAndWait(1000);
}

void nats_stream::release_thread() {
  nats_ReleaseThreadMemory();
}

void nats_stream::unfollow() {
  if (h_->sub == nullptr) return;
  natsSubscription_Unsubscribe(h_->sub);
  natsSubscription_Destroy(h_->sub);
  h_->sub = nullptr;
}

std::size_t nats_stream::max_payload() const {
  if (!connected()) return 1 << 20;
  const int64_t payload = natsConnection_GetMaxPayload(h_->conn);
  return payload > 0 ? static_cast<std::size_t>(payload) : std::size_t{1} << 20;
}

}  // namespace ecom::persistence
