#pragma once

// The ZooKeeper side of live quotas without CAF: where every znode lives (docs/design.md, section
// 3) and what it holds (small JSON documents an operator can read and write with zkCli.sh). Shared
// by the quota keeper, flashsale-admin and the tests.
//
//   <root>/nodes/gateways/<node>            ephemeral  {"http":"127.0.0.1:8080","session":"0x..",
//                                                       "actors":"127.0.0.1:4242"}
//   <root>/nodes/writers/<node>             ephemeral  {"http":"","session":"0x..",
//                                                       "actors":"127.0.0.1:4243"}
//   <root>/sales/<sale>/products/<p>        persistent {"stock":1000}  stock made available
//                                                      (a bare number "1000" is accepted too)
//   <root>/sales/<sale>/grants              persistent the leader's fence (docs/design.md)
//                                                      {"leader":"gw1","at_ms":..,"split":{"TV":1000}}
//   <root>/sales/<sale>/grants/<node>/<p>   persistent {"grant":334,"release":false}
//   <root>/sales/<sale>/consumed/<node>/<p> persistent the node's consumption report
//   <root>/sales/<sale>/settled/<node>      persistent {"epoch":3,"sold":{"TV":212},"by":"w1",
//                                                       "at_ms":..} a gone node's sales, final
//                                                      (written by a writer after fencing it in
//                                                      the databases; docs/design.md)
//   <root>/sales/<sale>/leader              persistent {"leader":"gw1","since_ms":...}
//   <root>/sales/<sale>/leader/n_<seq>      ephemeral sequential, data = node name (election)
//   <root>/sales/<sale>/settings            persistent {"keep_one_in":10,"window":"open"}
//                                                      (optional; window: scheduled|open|closed)

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/sale_definition.hpp"
#include "messages/messages.hpp"

namespace flashsale::quota {

/// Paths of one sale's quota tree under a root such as "/flashsale".
class layout {
 public:
  layout(std::string root, std::string sale);

  const std::string& root() const { return root_; }
  const std::string& sale_name() const { return sale_; }

  std::string members() const;  ///< parent of the gateways' ephemeral registrations
  std::string member(const std::string& node) const;
  std::string writers() const;  ///< parent of the writers' ephemeral registrations
  std::string writer(const std::string& node) const;
  std::string sale() const;
  std::string products() const;
  std::string product(const std::string& p) const;
  std::string grants() const;  ///< also the leader's fence znode
  std::string grant_dir(const std::string& node) const;
  std::string grant(const std::string& node, const std::string& p) const;
  std::string consumed() const;
  std::string consumed_dir(const std::string& node) const;
  std::string consumed(const std::string& node, const std::string& p) const;
  std::string settled() const;  ///< parent of the writers' records of fenced gone nodes
  std::string settled(const std::string& node) const;
  std::string leader() const;         ///< election parent; data = the leader's announcement
  std::string leader_prefix() const;  ///< leader() + "/n_" (ephemeral sequential children)
  std::string settings() const;

 private:
  std::string root_;
  std::string sale_;
};

/// True for "/x" or "/x/y" (no trailing slash, no empty component): a usable root.
bool valid_root(const std::string& root);

/// products/<p>: the stock made available (what the database holds for the product).
struct product_znode {
  std::int64_t stock = 0;
};
std::string encode(const product_znode& x);
/// {"stock": N} (other fields ignored) or a bare integer; N >= 0. nullopt otherwise.
std::optional<product_znode> decode_product(const std::string& data);

/// grants/<node>/<p>: cumulative units the node may admit, and the leader's request to give back
/// what it has not used.
struct grant_znode {
  std::int64_t grant = 0;
  bool release = false;
};
std::string encode(const grant_znode& x);
std::optional<grant_znode> decode_grant(const std::string& data);

/// consumed/<node>/<p>: what the node's keeper last reported.
struct consumption_report {
  std::int64_t consumed = 0;  ///< units admitted (reserved minus refunded), cumulative
  /// Units the node may admit before it writes a higher claim: it never admits past the claim it
  /// last wrote here, so a gone node's grant can fall to this without selling anything twice.
  /// Reports without it (older nodes) read as claimed = consumed.
  std::int64_t claimed = 0;
  std::int64_t grant = 0;          ///< the grant the node's counter enforces
  std::int64_t version = 0;        ///< the grant version (mzxid) the counter applied
  std::int64_t applied_at_ms = 0;  ///< wall clock when the keeper handed that version over
  /// Wall clock of the last purchase attempt (refused ones too; the counter's start when there
  /// was none). Reports are rewritten only when something changed, and at least every half
  /// idle-release time while buyers keep trying, so the leader can tell busy from idle.
  std::int64_t last_attempt_ms = 0;
  std::int64_t refused = 0;  ///< attempts refused (no quota or no lease), cumulative
  std::int64_t at_ms = 0;    ///< wall clock of the report
  /// The claim epoch of the keeper's session that wrote it (>= 1; one more with every session
  /// and restart): every purchase admitted under it carries it, so the databases can fence it.
  /// 0: a keeper before fencing.
  std::int64_t epoch = 0;
};
std::string encode(const consumption_report& x);
std::optional<consumption_report> decode_report(const std::string& data);

/// settled/<node>: a writer fenced the gone node's claim epochs up to `epoch` in every database of
/// the sale (sql/006_fencing.sql) and counted its orders: no purchase of those epochs can be
/// written any more, so `sold` is final and the leader may lower the node's grant to it.
struct settled_znode {
  std::int64_t epoch = 0;                    ///< >= 1
  std::map<std::string, std::int64_t> sold;  ///< product -> orders (a product missing: 0)
  std::string by;                            ///< the writer that fenced
  std::int64_t at_ms = 0;
};
std::string encode(const settled_znode& x);
/// nullopt unless an object with epoch >= 1 and sold an object of integers >= 0.
std::optional<settled_znode> decode_settled(const std::string& data);

/// Longest draw window: a year.
constexpr std::int64_t max_draw_window_s = 31536000;

/// settings: live knobs of the sale.
struct sale_settings {
  std::optional<std::uint32_t> keep_one_in;  ///< lottery K, 1..1000000
  /// The lottery's draw secret, 32 hex digits (written by zk init; every gateway draws with it).
  std::optional<std::string> draw_secret;
  /// Length of a draw window in seconds, 0..31,536,000; 0 (or absent): the whole sale.
  std::optional<std::int64_t> draw_window_s;
  /// "scheduled" | "open" | "closed": the operator's say over the sale window.
  std::optional<window_mode> window;
};
/// JSON object; unknown keys are ignored, a present key with a bad value is an error (nullopt).
std::optional<sale_settings> decode_settings(const std::string& data);
std::string encode(const sale_settings& x);

/// grants (the fence): written by the leader with every grant increase (versioned), with its
/// record of the stock level each product's grants were split for.
struct fence_znode {
  std::string leader;
  std::int64_t at_ms = 0;
  std::map<std::string, std::int64_t> split;  ///< product -> stock split over the gateways
};
std::string encode(const fence_znode& x);
/// Empty or unreadable data is an empty fence (nothing split yet).
fence_znode decode_fence(const std::string& data);

/// leader: who leads the quota decisions of the sale, since when.
struct leader_announcement {
  std::string node;
  std::int64_t since_ms = 0;
};
std::string encode(const leader_announcement& x);
std::optional<leader_announcement> decode_leader(const std::string& data);

/// nodes/gateways/<node> and nodes/writers/<node>: where the node serves (a writer has no http).
struct member_znode {
  std::string http;  ///< host:port of the HTTP listener
  std::int64_t session = 0;
  std::string actors;  ///< host:port of its published gateway_peer_actor (CAF), empty: none
};
std::string encode(const member_znode& x);
std::optional<member_znode> decode_member(const std::string& data);

/// A registered actor endpoint "host:port" split; false when it is not that (no host, a port
/// outside 1-65535).
bool split_endpoint(const std::string& endpoint, std::string& host, std::uint16_t& port);

/// Wall clock in ms since the epoch (the clock of reports and announcements).
std::int64_t wall_ms();

}  // namespace flashsale::quota
