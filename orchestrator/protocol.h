#pragma once
// The coordinator <-> worker protocol of `csweep run` (rank 0 = coordinator, every other rank
// = one worker; a single-process run executes the same scheduler in-process, no messages).
// Every message is one MPI_BYTE buffer on tag kProtocolTag: a fixed MessageHeader followed
// by an optional UTF-8 text payload (error messages, host names). The loops speak through the
// Comm interface (comm.h): all MPI calls live in orchestrator/mpi_comm.cpp; the in-process
// world (in_process_comm.h) carries the same bytes between threads for the coordinator's tests.
// Rank 0's side is orchestrator/run_rank0.cpp + coordinator.cpp, a worker's worker/worker_loop.cpp.
//
// STARTUP
//   1. Every rank initialises MPI (singleton init when started plainly), loads the job file
//      and makes the plan itself: the plan is a pure function of the spec and the model
//      config, so every rank holds the same shard table without receiving it.
//   2. worker -> HELLO {version, text = "host pid"}. The coordinator checks that `version`
//      equals kProtocolVersion on every HELLO (a mismatch -> ABORT to all, exit 2).
//   3. The coordinator opens the store (spec-hash check, lock, resume scan), then sends
//      START {code = the tensor-parallel group size it settled on} to every worker, or ABORT {code,
//      text = reason} when it cannot (every rank then exits with `code`; only rank 0 prints the
//      reason).
//   4. worker: builds its executor (loads the model) and creates its own fragment, then
//      -> READY. A worker that fails here sends FAILED {shard = kNoShard, text} and waits
//      for STOP; the coordinator treats it as lost (or stops, per on_error policy).
//
// OPERATION
//   - coordinator -> ASSIGN {shard}: up to `prefetch` shards outstanding per worker. Shard
//     choice: the costliest pending shard of the prompt the worker last ran (its caches are
//     warm), else the costliest pending shard overall.
//   - worker runs assigned shards in arrival order. For each: executor -> fragment write ->
//     H5Fflush -> DONE {shard, cells, seconds}. DONE is sent only after the data is durable.
//     A shard of an analysis that a later stage reads (`from:`, stages.h) carries its values
//     in the payload (pack_values: `cells` floats, native byte order); rank 0 chooses the
//     stage's cells from them and only then hands out the stage's shards.
//     An executor exception -> FAILED {shard, text = message}; the worker goes on.
//   - worker -> HEARTBEAT every heartbeat interval, from its own thread (so a long shard
//     does not look like a dead worker). Any message from a worker counts as a heartbeat.
//   - A worker silent for longer than the worker timeout is LOST: its outstanding shards are
//     re-issued to others and nothing more is sent to it.
//   - FAILED: the coordinator appends {shard, rank, message} to STORE/errors.jsonl; policy
//     `continue` marks the shard failed and goes on; `stop` drains (below) and exits 1.
//   - SIGTERM / SIGUSR1 on a worker: it finishes the shard in hand, drops the rest of its
//     queue and -> SIGNALED. On the coordinator (or on SIGNALED): the coordinator drains.
//
// TEARDOWN
//   - Finish: when every shard is done or failed, coordinator -> STOP {code} to every live
//     worker. Drain: coordinator -> STOP {code = 75} at once; workers finish the shard they
//     are computing (never start another), report it (DONE/FAILED), then reply BYE.
//   - worker on STOP: closes its fragment, -> BYE, MPI_Finalize, exits with `code`.
//   - coordinator: waits for BYE from every live worker (DONE/FAILED arriving first are still
//     journalled), writes status.json/provenance, MPI_Finalize, exits with the code. If a
//     worker was lost, MPI_Finalize could hang on it: the coordinator then calls MPI_Abort
//     with the exit code after everything is written.
//   Exit codes: 0 complete; 1 finished with failed shards or stopped by on_error=stop;
//   2 bad input (spec, store mismatch); 75 interrupted by a signal (requeue me).
//
// TENSOR-PARALLEL GROUPS (model.tensor_parallel = T > 1)
//   - Ranks 1..N-1 form (N-1)/T groups of T consecutive ranks; the first of each is its
//     leader (the coordinator refuses, before the store exists, an N-1 that T does not divide).
//     Every rank of a group holds 1/T of the model; they compute every shard together, in
//     lockstep, through the group's own communicator (model/collective.h), never this tag.
//   - Every rank sends HELLO, READY (or FAILED at start-up), HEARTBEAT, SIGNALED and BYE to the
//     coordinator itself. ASSIGN and STOP go to the leader only.
//   - leader -> member ASSIGN {shard, code = 1 if the shard's baselines are to be computed}
//     just before the leader starts that shard; every rank runs it. member -> leader DONE
//     {shard} or FAILED {shard, text} when its part is over. The leader writes the fragment
//     (members write nothing) and sends the coordinator DONE only after every member's DONE;
//     a member's FAILED fails the shard with the member's message.
//   - leader -> member STOP {code} after the leader's own STOP (or ABORT, which reaches every
//     rank from the coordinator directly). Members stop on their leader's word only, so a
//     member never leaves while its leader may still hand it a shard. A signalled member
//     reports SIGNALED and goes on running what its leader hands it.
//   - A rank lost (silent, hung, failed at start-up) loses its whole group: the leader's
//     outstanding shards are re-issued to other groups and nothing more is sent to any of
//     its ranks; ranks left waiting in a collective are ended by the coordinator's MPI_Abort.
//
// INVARIANTS
//   - A shard is done iff a readable fragment holds an index row with the magic and a
//     matching checksum (store/fragment_writer.h); DONE messages and the journal are
//     advisory. Hence a SIGKILL of any rank at any instant loses at most unflushed shards,
//     which the next run recomputes; results never depend on which rank ran what.
//   - Shard ids, cell order and values are pure functions of (spec, model): re-issued or
//     re-run shards are bit-identical; the reader keeps the first copy and counts duplicates.
//   - At most one coordinator owns a store at a time (flock on STORE/lock).
//   - Message order between one worker and the coordinator is FIFO (MPI non-overtaking on
//     one tag), so DONE for a shard always precedes that worker's BYE.
#include <cstdint>
#include <string>
#include <vector>

namespace csweep::orchestrator {

constexpr uint16_t kProtocolVersion = 3;         // 2: tensor-parallel groups; 3: stage values
constexpr uint32_t kProtocolMagic = 0x43535750;  // "CSWP"
constexpr int kProtocolTag = 7301;
constexpr uint32_t kNoShard = 0xffffffffu;

enum class MessageType : uint16_t {
  Hello = 1,      // worker -> coordinator: version check; text "host pid"
  Start = 2,      // coordinator -> worker: store ready, build executor and fragment
  Abort = 3,      // coordinator -> worker: exit now with `code` (start-up failure)
  Ready = 4,      // worker -> coordinator: executor and fragment ready
  Assign = 5,     // coordinator -> worker: run `shard`
  Done = 6,       // worker -> coordinator: `shard` durable; `cells`, `seconds`
  Failed = 7,     // worker -> coordinator: `shard` (or kNoShard) failed; text = message
  Heartbeat = 8,  // worker -> coordinator
  Signaled = 9,   // worker -> coordinator: got SIGTERM/SIGUSR1; `code` = signal
  Stop = 10,      // coordinator -> worker: finish the shard in hand, then BYE and exit `code`
  Bye = 11,       // worker -> coordinator: last message
};
const char* message_type_name(MessageType t);

struct MessageHeader {
  uint32_t magic = kProtocolMagic;
  uint16_t version = kProtocolVersion;
  uint16_t type = 0;
  uint32_t shard = kNoShard;
  int32_t code = 0;
  int64_t cells = 0;
  double seconds = 0.0;
};

struct Message {
  Message() = default;
  explicit Message(MessageType t) : type(t) {}
  MessageType type = MessageType::Heartbeat;
  uint16_t version = kProtocolVersion;
  uint32_t shard = kNoShard;
  int32_t code = 0;
  int64_t cells = 0;
  double seconds = 0.0;
  std::string text;
  int source = -1;  // set on receive
};

std::string encode(const Message& m);
// A DONE payload of shard values (the ranks of one world share a byte order).
std::string pack_values(const std::vector<float>& values);
std::vector<float> unpack_values(const std::string& payload);
// Throws csweep::Error on a short buffer or a wrong magic. Does not check the version (the
// coordinator does, on HELLO, to give a useful message).
Message decode(const char* data, size_t size, int source);

}  // namespace csweep::orchestrator
