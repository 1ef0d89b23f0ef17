"""Make ``esphome.json``: ESPHome packet_transport frames built by ESPHome's own C++.

Provenance
----------
* Source: the ``esphome`` package from PyPI, version :data:`ESPHOME_VERSION`
  (``pip download --no-deps``), files ``esphome/components/packet_transport/
  packet_transport.{h,cpp}`` and ``esphome/components/xxtea/xxtea.{h,cpp}``,
  compiled unchanged with the host ``g++ -std=c++20``. Nothing of them is copied
  into this repository: they are downloaded into a temporary folder on every run.
* Shim (written here, below): the few ESPHome core headers those files include
  (``core/component.h``, ``core/helpers.h``, ``core/preferences.h``,
  ``core/log.h``, ``core/application.h``) and minimal ``sensor::Sensor`` and
  ``binary_sensor::BinarySensor`` classes: state, state callbacks, an in-memory
  "flash" per hostname for the rolling code's high word, logging compiled out.
* Driver (written here, below): a ``PacketTransport`` subclass whose
  ``send_packet`` records frames, driven by a small command language on stdin.
  Senders are ESPHome's real ``setup()``, ``send_data_()``, ``flush_()``,
  ``add_data_()``, ``init_data_()``, ``increment_code_()`` and
  ``send_ping_pong_request_()``; every frame is then fed to ESPHome's real
  receiver, ``process_()``, configured with the sender as a provider (and its
  key), and what that receiver publishes is recorded as the expected values. A
  reboot is a new sender object over the same "flash" (as ``setup()`` reloads and
  bumps the high word).
* Not from ESPHome: the key hash (``hashlib.sha256(key.encode())``, the one-line
  ``hash_encryption_key`` of ``packet_transport/__init__.py``, whose module needs
  ESPHome's code generator to import) and the choice of scenarios.

Re-run (needs the network to PyPI and g++; not run in CI), from the repository root:

    .venv/bin/python tests/lib/decoders/vectors/make_esphome_vectors.py

It rewrites ``tests/lib/decoders/vectors/esphome.json``; the output is
deterministic (no randomness except the fixed ping key below).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
import struct
import subprocess
import sys
import tempfile
from typing import Any
import zipfile

ESPHOME_VERSION = "2026.10.0"
SOURCES = (
    "esphome/components/packet_transport/packet_transport.h",
    "esphome/components/packet_transport/packet_transport.cpp",
    "esphome/components/xxtea/xxtea.h",
    "esphome/components/xxtea/xxtea.cpp",
)
OUTPUT = Path(__file__).with_name("esphome.json")
RECEIVER = "vector-receiver"
PING_KEY = 0x1234ABCD

SHIM: dict[str, str] = {
    "esphome/core/component.h": r"""
#pragma once
#include <cstdint>
#include <string>
#define LOG_STR(s) (s)
namespace esphome {
namespace setup_priority { inline constexpr float AFTER_WIFI = 250.0f; }
class Component {
 public:
  virtual ~Component() = default;
  virtual void setup() {}
  virtual void loop() {}
  virtual void dump_config() {}
  void status_set_error(const char *) { this->failed_ = true; }
  void mark_failed() { this->failed_ = true; }
  bool is_failed() const { return this->failed_; }
 protected:
  bool failed_{false};
};
class PollingComponent : public Component {
 public:
  virtual void update() {}
};
}  // namespace esphome
""",
    "esphome/core/helpers.h": r"""
#pragma once
#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
namespace esphome {
template<typename T> class FixedVector {
 public:
  void init(size_t n) { this->items_.reserve(n); }  // no reallocation: callbacks hold references
  void push_back(const T &item) { this->items_.push_back(item); }
  typename std::vector<T>::iterator begin() { return this->items_.begin(); }
  typename std::vector<T>::iterator end() { return this->items_.end(); }
  typename std::vector<T>::const_iterator begin() const { return this->items_.begin(); }
  typename std::vector<T>::const_iterator end() const { return this->items_.end(); }
 private:
  std::vector<T> items_;
};
uint32_t random_uint32();
uint32_t millis();
constexpr size_t format_hex_pretty_size(size_t n) { return n * 3 + 1; }
inline const char *format_hex_pretty_to(char *buf, const uint8_t *, size_t) {
  buf[0] = 0;
  return buf;
}
}  // namespace esphome
""",
    "esphome/core/log.h": r"""
#pragma once
#define ESP_LOGE(tag, ...) ((void) 0)
#define ESP_LOGW(tag, ...) ((void) 0)
#define ESP_LOGI(tag, ...) ((void) 0)
#define ESP_LOGD(tag, ...) ((void) 0)
#define ESP_LOGV(tag, ...) ((void) 0)
#define ESP_LOGVV(tag, ...) ((void) 0)
#define ESP_LOGCONFIG(tag, ...) ((void) 0)
#define YESNO(b) ((b) ? "YES" : "NO")
""",
    "esphome/core/application.h": r"""
#pragma once
#include <deque>
#include <string>
namespace esphome {
class Application {
 public:
  // A deque: the transports keep pointers to the name they were set up with.
  std::deque<std::string> names;
  const std::string &get_name() const { return this->names.back(); }
};
extern Application App;
}  // namespace esphome
""",
    "esphome/core/preferences.h": r"""
#pragma once
#include <cstdint>
#include <map>
#include <string>
namespace esphome {
class ESPPreferenceObject {
 public:
  ESPPreferenceObject() = default;
  explicit ESPPreferenceObject(uint32_t *slot) : slot_(slot) {}
  template<typename T> bool load(T *dest) {
    if (this->slot_ == nullptr) return false;
    *dest = *this->slot_;
    return true;
  }
  template<typename T> bool save(const T *src) {
    if (this->slot_ == nullptr) return false;
    *this->slot_ = *src;
    return true;
  }
 private:
  uint32_t *slot_{nullptr};
};
class ESPPreferences {
 public:
  // One "flash" word per device name and hash (std::map nodes do not move).
  std::map<std::string, uint32_t> flash;
  template<typename T> ESPPreferenceObject make_preference(uint32_t hash, bool in_flash);
  bool sync() { return true; }
};
extern ESPPreferences *global_preferences;
}  // namespace esphome
""",
    "esphome/components/sensor/sensor.h": r"""
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>
namespace esphome::sensor {
class Sensor {
 public:
  std::string label;
  float state{NAN};
  void add_on_state_callback(std::function<void(float)> &&cb) { this->callbacks_.push_back(std::move(cb)); }
  float get_state() const { return this->state; }
  void publish_state(float value);
 private:
  std::vector<std::function<void(float)>> callbacks_;
 public:
  void notify() { for (auto &cb : this->callbacks_) cb(this->state); }
};
}  // namespace esphome::sensor
""",
    "esphome/components/binary_sensor/binary_sensor.h": r"""
#pragma once
#include <functional>
#include <string>
#include <vector>
namespace esphome::binary_sensor {
class BinarySensor {
 public:
  std::string label;
  bool state{false};
  void add_on_state_callback(std::function<void(bool)> &&cb) { this->callbacks_.push_back(std::move(cb)); }
  void publish_state(bool value);
  void invalidate_state() {}
 private:
  std::vector<std::function<void(bool)>> callbacks_;
 public:
  void notify() { for (auto &cb : this->callbacks_) cb(this->state); }
};
}  // namespace esphome::binary_sensor
""",
}

DRIVER = r"""
// Vector driver: ESPHome's PacketTransport (compiled from its sources) on the host.
#include "esphome/components/packet_transport/packet_transport.h"
#include "esphome/components/xxtea/xxtea.h"
#include "esphome/core/application.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

namespace esphome {
Application App;
static ESPPreferences preferences;
ESPPreferences *global_preferences = &preferences;
uint32_t random_uint32() { return 0x1234ABCD; }
uint32_t millis() { return 1000; }
template<typename T> ESPPreferenceObject ESPPreferences::make_preference(uint32_t hash, bool) {
  return ESPPreferenceObject(&this->flash[App.get_name() + "/" + std::to_string(hash)]);
}
template ESPPreferenceObject ESPPreferences::make_preference<uint32_t>(uint32_t, bool);
}  // namespace esphome

using namespace esphome;

static void print_hex(const char *tag, const uint8_t *data, size_t size) {
  std::printf("%s ", tag);
  for (size_t i = 0; i != size; i++) std::printf("%02x", data[i]);
  std::printf("\n");
}

void sensor::Sensor::publish_state(float value) {
  this->state = value;
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  std::printf("pub s %s %08x\n", this->label.c_str(), (unsigned) bits);
}
void binary_sensor::BinarySensor::publish_state(bool value) {
  this->state = value;
  std::printf("pub b %s %d\n", this->label.c_str(), value ? 1 : 0);
}

class Transport : public packet_transport::PacketTransport {
 public:
  size_t max_size{250};
  void send_packet(const std::vector<uint8_t> &buf) const override { print_hex("frame", buf.data(), buf.size()); }
  size_t get_max_packet_size() override { return this->max_size; }
  using packet_transport::PacketTransport::process_;
  using packet_transport::PacketTransport::send_data_;
  using packet_transport::PacketTransport::send_ping_pong_request_;
};

static std::vector<uint8_t> from_hex(const std::string &text) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) out.push_back(std::stoul(text.substr(i, 2), nullptr, 16));
  return out;
}

struct Node {
  std::string name;
  size_t max_size;
  bool rolling;
  bool ping_pong;
  std::string key;  // hex, "-" for none
  std::vector<std::pair<std::string, uint32_t>> sensors;
  std::vector<std::pair<std::string, bool>> binaries;
  std::vector<std::unique_ptr<sensor::Sensor>> sensor_objects;
  std::vector<std::unique_ptr<binary_sensor::BinarySensor>> binary_objects;
  std::unique_ptr<Transport> transport;

  void boot() {
    App.names.push_back(this->name);
    this->transport = std::make_unique<Transport>();
    this->transport->max_size = this->max_size;
    this->transport->set_rolling_code_enable(this->rolling);
    this->transport->set_ping_pong_enable(this->ping_pong);
    if (this->key != "-") this->transport->set_encryption_key(from_hex(this->key));
    this->sensor_objects.clear();
    this->binary_objects.clear();
    if (!this->sensors.empty()) this->transport->set_sensor_count(this->sensors.size());
    if (!this->binaries.empty()) this->transport->set_binary_sensor_count(this->binaries.size());
    for (auto &[id, bits] : this->sensors) {
      auto object = std::make_unique<sensor::Sensor>();
      object->label = id;
      std::memcpy(&object->state, &bits, 4);
      this->transport->add_sensor(id.c_str(), object.get());
      this->sensor_objects.push_back(std::move(object));
    }
    for (auto &[id, on] : this->binaries) {
      auto object = std::make_unique<binary_sensor::BinarySensor>();
      object->label = id;
      object->state = on;
      this->transport->add_binary_sensor(id.c_str(), object.get());
      this->binary_objects.push_back(std::move(object));
    }
    if (!this->sensors.empty() || !this->binaries.empty()) this->transport->set_is_provider(true);
    this->transport->setup();
  }
};

int main() {
  std::unique_ptr<Node> node;
  std::unique_ptr<Transport> receiver;
  std::vector<std::unique_ptr<sensor::Sensor>> remote_sensors;
  std::vector<std::unique_ptr<binary_sensor::BinarySensor>> remote_binaries;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "node") {
      node = std::make_unique<Node>();
      int rolling, ping_pong;
      in >> node->name >> node->max_size >> rolling >> ping_pong >> node->key;
      node->rolling = rolling != 0;
      node->ping_pong = ping_pong != 0;
    } else if (command == "s") {
      std::string id, bits;
      in >> id >> bits;
      node->sensors.emplace_back(id, (uint32_t) std::stoul(bits, nullptr, 16));
    } else if (command == "b") {
      std::string id;
      int on;
      in >> id >> on;
      node->binaries.emplace_back(id, on != 0);
    } else if (command == "boot") {
      node->boot();
    } else if (command == "set_s") {  // index, f32 bits: a state change
      size_t index;
      std::string bits;
      in >> index >> bits;
      uint32_t value = std::stoul(bits, nullptr, 16);
      auto &object = node->sensor_objects.at(index);
      std::memcpy(&object->state, &value, 4);
      object->notify();
    } else if (command == "set_b") {
      size_t index;
      int on;
      in >> index >> on;
      auto &object = node->binary_objects.at(index);
      object->state = on != 0;
      object->notify();
    } else if (command == "send") {  // all | changed
      std::string which;
      in >> which;
      node->transport->send_data_(which == "all");
    } else if (command == "ping_request") {
      node->transport->send_ping_pong_request_();
    } else if (command == "feed") {  // a frame into the current node (a ping request)
      std::string hex;
      in >> hex;
      auto data = from_hex(hex);
      node->transport->process_(data);
    } else if (command == "receiver") {  // provider name, key hex or "-"
      std::string provider, key;
      in >> provider >> key;
      App.names.push_back(RECEIVER_NAME);
      receiver = std::make_unique<Transport>();
      receiver->add_provider(strdup(provider.c_str()));
      if (key != "-") receiver->set_provider_encryption(strdup(provider.c_str()), from_hex(key));
      remote_sensors.clear();
      remote_binaries.clear();
      receiver->setup();
    } else if (command == "remote_s" || command == "remote_b") {
      std::string provider, id;
      in >> provider >> id;
      if (command == "remote_s") {
        auto object = std::make_unique<sensor::Sensor>();
        object->label = id;
        receiver->add_remote_sensor(strdup(provider.c_str()), strdup(id.c_str()), object.get());
        remote_sensors.push_back(std::move(object));
      } else {
        auto object = std::make_unique<binary_sensor::BinarySensor>();
        object->label = id;
        receiver->add_remote_binary_sensor(strdup(provider.c_str()), strdup(id.c_str()), object.get());
        remote_binaries.push_back(std::move(object));
      }
    } else if (command == "receive") {
      std::string hex;
      in >> hex;
      auto data = from_hex(hex);
      receiver->process_(data);
      std::printf("received\n");
    } else if (command == "xxtea") {  // key hex (32 bytes), data hex
      std::string key, hex;
      in >> key >> hex;
      auto k = from_hex(key);
      auto data = from_hex(hex);
      xxtea::encrypt(reinterpret_cast<uint32_t *>(data.data()), data.size() / 4,
                     reinterpret_cast<const uint32_t *>(k.data()));
      print_hex("xxtea", data.data(), data.size());
      xxtea::decrypt(reinterpret_cast<uint32_t *>(data.data()), data.size() / 4,
                     reinterpret_cast<const uint32_t *>(k.data()));
      print_hex("xxtea_decrypted", data.data(), data.size());
    }
    std::fflush(stdout);
  }
  return 0;
}
"""


def f32_bits(value: float) -> str:
    """The f32 bits of ``value`` as 8 hex digits (ESPHome states are floats)."""
    return struct.pack("<f", value)[::-1].hex()


def hashed_key(key: str) -> str:
    """``hash_encryption_key`` of ESPHome's ``packet_transport/__init__.py``."""
    return hashlib.sha256(key.encode()).hexdigest()


def fetch_sources(work: Path) -> Path:
    """Download the esphome wheel and extract the sources; return the include root."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.14",
            "--dest",
            str(work),
            f"esphome=={ESPHOME_VERSION}",
        ],
        check=True,
    )
    (wheel,) = work.glob("esphome-*.whl")
    root = work / "src"
    with zipfile.ZipFile(wheel) as archive:
        for name in SOURCES:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    return root


def build(work: Path) -> Path:
    """Compile ESPHome's packet_transport and xxtea with the shim and the driver."""
    root = fetch_sources(work)
    for name, text in SHIM.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.lstrip())
    driver = root / "driver.cpp"
    driver.write_text(DRIVER.replace("RECEIVER_NAME", json.dumps(RECEIVER)))
    program = work / "driver"
    subprocess.run(
        [
            "g++",
            "-std=c++20",
            "-O1",
            "-DUSE_SENSOR",
            "-DUSE_BINARY_SENSOR",
            "-I",
            str(root),
            "-o",
            str(program),
            str(driver),
            str(root / "esphome/components/packet_transport/packet_transport.cpp"),
            str(root / "esphome/components/xxtea/xxtea.cpp"),
        ],
        check=True,
    )
    return program


class Scenario:
    """One sender node and the steps of one vector case."""

    def __init__(
        self,
        name: str,
        host: str,
        *,
        key: str | None = None,
        rolling: bool = False,
        max_size: int = 250,
        sensors: list[tuple[str, float]] = (),  # type: ignore[assignment]
        binaries: list[tuple[str, bool]] = (),  # type: ignore[assignment]
        description: str = "",
    ) -> None:
        """Describe the node; steps are added with the methods below."""
        self.name = name
        self.host = host
        self.key = key
        self.description = description
        self.sensors = list(sensors)
        self.binaries = list(binaries)
        self.commands = [
            f"node {host} {max_size} {int(rolling)} 0 "
            f"{'-' if key is None else hashed_key(key)}",
            *(f"s {ident} {f32_bits(value)}" for ident, value in self.sensors),
            *(f"b {ident} {int(on)}" for ident, on in self.binaries),
            "boot",
        ]
        self.plan: list[dict[str, Any]] = []

    def send(self, which: str = "all", note: str = "") -> None:
        """Send (all or changed values): the frames get recorded as steps."""
        self.commands.append(f"send {which}")
        self.plan.append({"send": note or which})

    def set_sensor(self, index: int, value: float) -> None:
        """Change a sensor's state (as a sensor publishing a new value)."""
        self.commands.append(f"set_s {index} {f32_bits(value)}")

    def set_binary(self, index: int, on: bool) -> None:
        """Change a binary sensor's state."""
        self.commands.append(f"set_b {index} {int(on)}")

    def reboot(self) -> None:
        """Reset the node: ESPHome's setup() runs again over the same flash."""
        self.commands.append("boot")

    def feed(self, frame: bytes) -> None:
        """Give the node a frame (a consumer's ping request)."""
        self.commands.append(f"feed {frame.hex()}")


def run(program: Path, commands: list[str]) -> list[str]:
    """Run the driver on ``commands``; return its output lines."""
    done = subprocess.run(
        [str(program)],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def frames_of(program: Path, scenario: Scenario) -> list[bytes]:
    """The frames the scenario's node sends, in order."""
    return [
        bytes.fromhex(line.split()[1])
        for line in run(program, scenario.commands)
        if line.startswith("frame ")
    ]


def receive(
    program: Path, scenario: Scenario, frames: list[bytes]
) -> list[dict[str, Any]]:
    """What ESPHome's receiver publishes for each frame, in order, in one run."""
    key = "-" if scenario.key is None else hashed_key(scenario.key)
    commands = [f"receiver {scenario.host} {key}"]
    commands += [f"remote_s {scenario.host} {ident}" for ident, _ in scenario.sensors]
    commands += [f"remote_b {scenario.host} {ident}" for ident, _ in scenario.binaries]
    commands += [f"receive {frame.hex()}" for frame in frames]
    published: list[dict[str, Any]] = []
    current: dict[str, Any] = {"sensors": {}, "binary_sensors": {}}
    for line in run(program, commands):
        parts = line.split()
        if parts[:2] == ["pub", "s"]:
            current["sensors"][parts[2]] = parts[3]
        elif parts[:2] == ["pub", "b"]:
            current["binary_sensors"][parts[2]] = parts[3] == "1"
        elif parts == ["received"]:
            published.append(current)
            current = {"sensors": {}, "binary_sensors": {}}
    return published


def make_case(
    program: Path,
    scenario: Scenario,
    *,
    order: list[int] | None = None,
    restart_before: int | None = None,
) -> dict[str, Any]:
    """A vector case: the node's frames (and replays of some), received in order.

    ``order``: the indexes of the frames as received (repeats are replays; default:
    each once, as sent). ``restart_before``: the receiving side
    restarts (persisted state reloaded) before that position; ESPHome's receiver
    keeps its last codes in RAM, which is what a persisted state gives back.
    """
    frames = frames_of(program, scenario)
    sequence = [frames[i] for i in order] if order is not None else list(frames)
    published = receive(program, scenario, sequence)
    steps: list[dict[str, Any]] = []
    for position, (frame, values) in enumerate(zip(sequence, published, strict=True)):
        if position == restart_before:
            steps.append({"restart": True})
        steps.append({"frame": frame.hex(), "esphome_published": values})
    return {
        "name": scenario.name,
        "description": scenario.description,
        "hostname": scenario.host,
        "key": scenario.key,
        "sensors": [ident for ident, _ in scenario.sensors],
        "binary_sensors": [ident for ident, _ in scenario.binaries],
        "steps": steps,
    }


def scenarios(program: Path) -> list[dict[str, Any]]:
    """Every vector case."""
    cases: list[dict[str, Any]] = []

    basic = Scenario(
        "plain",
        "living-room",
        sensors=[
            ("temperature", 21.5),
            ("humidity", 48.3),
            ("pressure", 1013.25),
            ("battery", 87.0),
        ],
        binaries=[("motion", True), ("window", False)],
        description="clear frames: every value, then one change",
    )
    basic.send("all")
    basic.set_sensor(0, 22.25)
    basic.send("changed")
    basic.set_binary(1, True)
    basic.send("changed")
    cases.append(make_case(program, basic))

    for host in ("a", "ab", "abc", "abcd", "node_with_underscore-and-dash"):
        padding = Scenario(
            f"hostname {host}",
            host,
            sensors=[("temperature", -3.5)],
            description="header padding: every hostname length modulo 4",
        )
        padding.send("all")
        cases.append(make_case(program, padding))

    special = Scenario(
        "special values",
        "special-values",
        sensors=[
            ("never_published", math.nan),
            ("cold", -40.0),
            ("tiny", 1e-7),
            ("huge", 3.4e38),
            ("plus_infinity", math.inf),
            ("minus_infinity", -math.inf),
            ("tenth", 0.1),
            ("big_integer", 123456789.0),
            ("negative_zero", -0.0),
            ("Temp_Outside", 12.75),
            ("x" * 200, 1.0),
        ],
        description="NaN (ESPHome's unknown), infinities, rounding, an uppercase id, a 200-character id",
    )
    special.send("all")
    cases.append(make_case(program, special))

    for index, key in enumerate(
        ("secret", "ESPHome packet transport key with spaces 1234567890", "ключ-🔑", "")
    ):
        encrypted = Scenario(
            f"encrypted {index}",
            f"encrypted-{index}",
            key=key,
            sensors=[("temperature", 19.0 + index), ("co2", 612.0)],
            binaries=[("door", index % 2 == 0)],
            description="encrypted (XXTEA with the SHA-256 of the key string)",
        )
        encrypted.send("all")
        encrypted.set_sensor(1, 640.0)
        encrypted.send("changed")
        cases.append(make_case(program, encrypted))

    rolling = Scenario(
        "rolling code across restarts",
        "rolling-node",
        key="rolling-secret",
        rolling=True,
        sensors=[("temperature", 20.0), ("battery", 99.0)],
        binaries=[("occupancy", False)],
        description=(
            "boot 1: three sends; the node reboots (high word bumped); boot 2: two"
            " sends. Received: 0 1 2 3 | restart | 1 (replay) 3 (replay) 4 4 (replay)"
        ),
    )
    for step in range(3):
        rolling.set_sensor(0, 20.0 + step)
        rolling.send("all", f"boot 1 send {step}")
    rolling.reboot()
    for step in range(2):
        rolling.set_binary(0, step == 1)
        rolling.send("all", f"boot 2 send {step}")
    cases.append(
        make_case(
            program, rolling, order=[0, 1, 2, 3, 1, 3, 4, 4], restart_before=4
        )
    )

    many = [(f"sensor_number_{i:02d}_temperature", 20.0 + i / 4) for i in range(40)]
    many_binary = [(f"contact_{i}", i % 3 == 0) for i in range(10)]
    big_plain = Scenario(
        "multi-frame plain",
        "big-node",
        sensors=many,
        binaries=many_binary,
        description="40 sensors and 10 binary sensors over 250-byte frames",
    )
    big_plain.send("all")
    cases.append(make_case(program, big_plain))

    big_encrypted = Scenario(
        "multi-frame encrypted with rolling code",
        "big-secret-node",
        key="many frames",
        rolling=True,
        sensors=many,
        binaries=many_binary,
        description="the same, encrypted, every frame with its own rolling code",
    )
    big_encrypted.send("all")
    big_encrypted.send("all")
    cases.append(make_case(program, big_encrypted))

    v2 = Scenario(
        "ESP-NOW v2 frame",
        "v2-node",
        key="large",
        max_size=1470,
        sensors=[(f"reading_{i:03d}", i * 1.5) for i in range(120)],
        description="max_payload_size 1470: up to 1470-byte frames",
    )
    v2.send("all")
    cases.append(make_case(program, v2))

    # A consumer's ping request, and an encrypted provider that echoes the key.
    consumer = Scenario("ping request", "consumer-node", key="ping secret")
    consumer.commands[0] = consumer.commands[0].replace(" 0 0 ", " 0 1 ")
    consumer.commands.append("ping_request")
    (ping,) = frames_of(program, consumer)
    pinged = Scenario(
        "ping key echoed",
        "pinged-node",
        key="ping secret",
        rolling=True,
        sensors=[("humidity", 55.5)],
        description="a ping request (no values), then data with a PING_KEY record",
    )
    pinged.feed(ping)
    pinged.send("all")
    case = make_case(program, pinged)
    case["steps"].insert(
        0,
        {
            "frame": ping.hex(),
            "ping_from": "consumer-node",
            "esphome_published": {"sensors": {}, "binary_sensors": {}},
        },
    )
    cases.append(case)
    return cases


def xxtea_vectors(program: Path) -> list[dict[str, str]]:
    """ESPHome's xxtea::encrypt on 1 to 9 words and long blocks, then its decrypt.

    On one word ESPHome's decrypt does not undo its encrypt (XXTEA needs two words;
    a frame's body always has them: the lead key and at least one record).
    """
    commands = []
    inputs = []
    for words in (*range(1, 10), 64, 367):
        key = hashlib.sha256(f"key {words}".encode()).digest()
        data = hashlib.shake_256(f"data {words}".encode()).digest(words * 4)
        inputs.append((key, data))
        commands.append(f"xxtea {key.hex()} {data.hex()}")
    lines = [line.split()[1] for line in run(program, commands)]
    return [
        {
            "key": key.hex(),
            "plain": data.hex(),
            "encrypted": encrypted,
            "decrypted_by_esphome": decrypted,
        }
        for (key, data), encrypted, decrypted in zip(
            inputs, lines[::2], lines[1::2], strict=True
        )
    ]


def main() -> None:
    """Build, run, write the vector file."""
    with tempfile.TemporaryDirectory() as folder:
        program = build(Path(folder))
        vectors = {
            "provenance": {
                "generator": "tests/lib/decoders/vectors/make_esphome_vectors.py",
                "esphome": ESPHOME_VERSION,
                "sources": list(SOURCES),
                "note": (
                    "frames built and received by ESPHome's packet_transport.cpp and"
                    " xxtea.cpp, compiled on the host with a minimal shim; the key is"
                    " hashed as hash_encryption_key does (sha256 of the UTF-8 string)"
                ),
            },
            "xxtea": xxtea_vectors(program),
            "cases": scenarios(program),
        }
    OUTPUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
