// answer: hands a reply to its callback once everything it rests on is durable: at once
// (inline) when it already is, else from the WAL thread after a barrier. The one way a reply
// leaves the engine besides a durable step's own records (see reply_mode in command.h).
#pragma once

#include <utility>

#include "engine/journal.h"
#include "engine/reply.h"

namespace ecom::engine {

inline void answer_when_durable(journal& wal, lsn_t rests_on, reply_callback done, reply&& answer) {
  if (wal.durable_lsn() >= rests_on) return done(std::move(answer));
  wal.append({}, [done = std::move(done), answer = std::move(answer)]() mutable {
    done(std::move(answer));
  });
}

// Ends a flow with `answer` (a step's reply, or a refusal) once what it rests on
// (answer.rests_on) is durable.
inline void finish_flow(journal& wal, reply&& answer, reply_callback done) {
  const lsn_t rests_on = answer.rests_on;
  answer_when_durable(wal, rests_on, std::move(done), std::move(answer));
}

}  // namespace ecom::engine
