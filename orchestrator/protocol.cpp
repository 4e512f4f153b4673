#include "orchestrator/protocol.h"

#include <cstring>

#include "common/error.h"

namespace csweep::orchestrator {

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::Hello:
      return "HELLO";
    case MessageType::Start:
      return "START";
    case MessageType::Abort:
      return "ABORT";
    case MessageType::Ready:
      return "READY";
    case MessageType::Assign:
      return "ASSIGN";
    case MessageType::Done:
      return "DONE";
    case MessageType::Failed:
      return "FAILED";
    case MessageType::Heartbeat:
      return "HEARTBEAT";
    case MessageType::Signaled:
      return "SIGNALED";
    case MessageType::Stop:
      return "STOP";
    case MessageType::Bye:
      return "BYE";
  }
  return "UNKNOWN";
}

std::string encode(const Message& m) {
  MessageHeader h;
  h.version = m.version;
  h.type = static_cast<uint16_t>(m.type);
  h.shard = m.shard;
  h.code = m.code;
  h.cells = m.cells;
  h.seconds = m.seconds;
  std::string out(sizeof h + m.text.size(), '\0');
  std::memcpy(out.data(), &h, sizeof h);
  if (!m.text.empty()) std::memcpy(out.data() + sizeof h, m.text.data(), m.text.size());
  return out;
}

Message decode(const char* data, size_t size, int source) {
  MessageHeader h;
  if (size < sizeof h)
    throw Error("protocol: message of " + std::to_string(size) + " bytes from rank " +
                std::to_string(source) + " is shorter than a header");
  std::memcpy(&h, data, sizeof h);
  if (h.magic != kProtocolMagic)
    throw Error("protocol: message from rank " + std::to_string(source) +
                " has a wrong magic (not csweep?)");
  Message m;
  m.type = static_cast<MessageType>(h.type);
  m.version = h.version;
  m.shard = h.shard;
  m.code = h.code;
  m.cells = h.cells;
  m.seconds = h.seconds;
  m.text.assign(data + sizeof h, size - sizeof h);
  m.source = source;
  return m;
}

std::string pack_values(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::vector<float> unpack_values(const std::string& payload) {
  std::vector<float> out(payload.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), payload.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace csweep::orchestrator
