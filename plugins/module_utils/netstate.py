# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one helper the wgsplit.gateway modules stand on.

Every module is a small `StateModule`: it reads the kernel's state from
machine-readable output, computes the state it wants, applies the difference
in one bulk command, re-reads to prove the result, and persists what must come
back at boot.  What they share lives here:

* `Commands` runs argument lists (never a shell) with a C locale.
* `StateModule` is the read -> want -> apply -> verify -> report transaction.
* `BootState` writes the files that `wgsplit-restore.service` loads at boot.
* `list_delta` is the ordered difference of two lists.
* `kernel_prefix` (and `prefix_text`) print a network the way iproute2 and ipset do; `owned_table`
  tells a routing table the collection may manage from the kernel's own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import fcntl
import ipaddress
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.wgsplit.gateway.plugins.module_utils.canonical import network as network_text

C_LOCALE = {'LANG': 'C', 'LC_ALL': 'C', 'LC_MESSAGES': 'C'}

PERSIST_DIR = '/etc/wgsplit'
RESTORE_SCRIPT = PERSIST_DIR + '/restore'
UNIT_DIR = '/etc/systemd/system'
RESTORE_UNIT = 'wgsplit-restore.service'
RESTORE_UNIT_PATH = UNIT_DIR + '/' + RESTORE_UNIT
# Saves what the resolver put into the sets (restore script "save"): every few minutes and at shutdown.
LEARNED_DIR = PERSIST_DIR + '/learned'
LEARNED_UNIT = 'wgsplit-learned.service'
LEARNED_TIMER = 'wgsplit-learned.timer'
WATCH_UNIT = 'wgsplit-watch.service'
# The resolver (role dnsmasq_split): where the plan writes it and split_info reads it.
RESOLVER_CONFIG = PERSIST_DIR + '/resolver/dnsmasq.conf'
RESOLVER_UNIT = 'wgsplit-resolver.service'
# Back resolver N (plugin_utils/resolver.py): unit wgsplit-resolver-back@N.service, its configuration back-N.conf
# beside RESOLVER_CONFIG, listening on 127.53.0.N port 53 (all of 127/8 is the loopback's: no address to add).
RESOLVER_BACK_NETWORK = '127.53.0.'
# The table the resolvers served, kept beside RESOLVER_CONFIG while a run changes their files.
RESOLVER_JOURNAL = 'previous.lines'
RESOLVER_BACK_TEMPLATE = 'wgsplit-resolver-back@.service'
RESOLVER_BACK_PREFIX, RESOLVER_BACK_SUFFIX = 'back-', '.conf'
CLIENTS_DIR = PERSIST_DIR + '/clients'
METRICS_DIR = PERSIST_DIR + '/metrics'
METRICS_EXPORTER = METRICS_DIR + '/exporter'
METRICS_CONFIG = METRICS_DIR + '/config.json'
METRICS_UNIT = 'wgsplit-metrics.service'
METRICS_TIMER = 'wgsplit-metrics.timer'
BOOT_KINDS = ('ipset', 'iptables', 'nftables', 'route')
# How earlier builds named the families in chain boot file names (TABLE.CHAIN.ipv4.rules): split_info reads
# them, mangle_mark removes them when it writes the chain's file.
LEGACY_BOOT_FAMILIES = {'inet': 'ipv4', 'inet6': 'ipv6'}
# Ownership markers (docs/contract.md 15): what the collection wrote carries one of these, and it touches nothing
# without. Routes and ip rules carry this protocol number (free in iproute2's rt_protos).
ROUTE_PROTOCOL = 233
# The first line of every wg-quick configuration the collection writes.
WIREGUARD_CONFIG_MARKER = '# Managed by wgsplit.gateway.wg_upstream: edits are overwritten.'
# local, main and default (and the unspecified 0) belong to the kernel and the system.
RESERVED_TABLES = (0, 253, 254, 255)

# Order matters: sets exist before the rules that match them, chains before anything that jumps into
# them.  Each file is loaded on its own, so a bad or missing file affects only what it describes; a
# chain that a restored chain jumps to but that could not be restored itself (its file is missing, or
# matches a set that is) is created refusing (DROP; empty in nat, where DROP is not allowed): what it
# would have classified is refused, never sent the default way.  Policy routes that name a device which
# is not up yet fail here and come back with that device (wg-quick's Table=).
RESTORE_SCRIPT_TEXT = r'''#!/bin/sh
# Written by wgsplit.gateway: restores its ipsets, firewall chains and policy routing at boot, before
# the network comes up.  Do not edit: the modules rewrite the files under /etc/wgsplit on every run.
# With "save": writes the members the resolver put into the collection's sets (with the time each has
# left) to learned/, so that at boot a client whose answer is still cached finds its path again.
set -u
dir=/etc/wgsplit
status=0
xtables() { case "$1" in *.inet6.rules|*.ipv6.rules) echo ip6tables ;; *) echo iptables ;; esac; }
table_exists() { nft list tables inet 2>/dev/null | grep -qxF "table inet $1"; }
# The jumps a chain file names ("# jump: TABLE PARENT CHAIN") that the kernel does not have, one a line.
absent_jumps() {
  ipt=$(xtables "$1")
  sed -n 's/^# jump: //p' "$1" | while read -r table parent chain; do
    "$ipt" -w -t "$table" -C "$parent" -j "$chain" 2>/dev/null || echo "$table $parent $chain"
  done
}
# What the kernel's terse listing (no set element) says of table inet $1 against the listing nft_table kept after its
# change ($2, its blocks sorted): "dormant" (its hooks off: nothing marks), "differs" (a rule, chain or set deleted,
# replaced or added: `nft flush table`, `nft replace rule`), or nothing. Compared line by line, sorted (the kernel
# lists blocks in the order they were made). A listing nft cannot give says nothing (unknown is not missing).
table_drift() {
  listing=$(nft -t list ruleset inet 2>/dev/null) || return 0
  live=$(printf '%s\n' "$listing" |
    awk -v head="table inet $1 {" '$0 == head { p = 1 } p && NF { print } p && $0 == "}" { exit }' | sort)
  [ -n "$live" ] || return 0
  if printf '%s\n' "$live" | grep -q '^	flags .*dormant'; then echo dormant
  elif [ "$live" != "$(awk NF "$2" | sort)" ]; then echo differs
  fi
}
# The chains of table $2 (iptables or ip6tables: $1) whose rules in the kernel are not those of their files (the rest
# of the arguments, those that exist), in order: flushed, a rule deleted, replaced or put before by hand. One a line; nothing when the
# kernel's listing fails. (mangle_mark writes the rules as iptables-save prints them.)
differing_chains() {
  ipt=$1 table=$2
  shift 2
  saved=$("$ipt-save" -t "$table" 2>/dev/null) || return 0
  { printf '%s\n' "$saved" | sed -n 's/^-A /kernel /p'; cat "$@" 2>/dev/null | sed -n 's/^-A /file /p'; } |
    awk '$1 == "kernel" { kernel[$2] = kernel[$2] "\n" substr($0, 8) }
         $1 == "file" { file[$2] = file[$2] "\n" substr($0, 6) }
         END { for (chain in file) if (kernel[chain] != file[chain]) print chain }' | sort
}
# "$1 lacks N of $3" when the kernel has fewer ($2) than the boot files give ($3): more is someone else's to add.
lacks() { [ "$2" -ge "$3" ] || echo "$1 lacks $(($3 - $2)) of $3"; }
# What of the collection the kernel lacks, one a line (nothing: all there): a table gone, dormant or other than its
# kept listing (`nft flush table`, a chain flushed, a rule deleted or replaced); a set its table file fills, short of
# elements; a chain that built-in chains jump to, or that jump, gone; a chain whose rules are not its file's (`iptables
# -F WGSPLIT`: the chain and its jump stay, empty, and nothing marks or refuses); an ipset the plan fills, short; ip
# rules or routes, short.
missing() {
  for f in "$dir"/nftables/*.nft; do
    [ -e "$f" ] || continue
    name=${f##*/}
    table=${name%.nft}
    table_exists "$table" || { echo "table $table gone"; continue; }
    [ -e "${f%.nft}.listing" ] && table_drift "$table" "${f%.nft}.listing" | sed "s/^/table $table /"
    # The sets the file gives elements (a rule list's networks, no line of the terse listing): one deleted by hand is
    # proxied traffic sent direct. Counted: the kernel lists them as the file gives them, a comma apart. (Set names
    # are of letters, digits, _ and - only.)
    sed -n 's/^\tset \([A-Za-z0-9_-]*\) {.* elements = {\([^}]*\)}.*/\1 \2/p' "$f" |
      awk '{ print $1, gsub(/,/, ",") + 1 }' |
      while read -r set want; do
        have=$(nft list set inet "$table" "$set" 2>/dev/null |
          awk '/elements = \{/ { p = 1 } p { n += gsub(/,/, ",") } p && /\}/ { n++; exit } END { print n + 0 }')
        lacks "set $table $set" "$have" "$want"
      done
  done
  for f in "$dir"/iptables/*.rules; do
    [ -e "$f" ] && grep -q '^# jump: ' "$f" || continue  # only the chains built-in chains jump to
    absent_jumps "$f" | sed 's/^/jump /'
  done
  # Each family's files by their names (as xtables reads them), not a process or a test a file: the watch checks a
  # thousand clients' chains after each burst of deletions. A pattern that matches nothing stays as it is: so the
  # first or the second word names a file when either pattern matches one (differing_chains skips the others).
  for family in "iptables inet ipv4" "ip6tables inet6 ipv6"; do
    # shellcheck disable=SC2086  # three words
    set -- $family
    ipt=$1 current=$2 legacy=$3
    for table in raw mangle nat filter; do
      set -- "$dir/iptables/$table".*."$current".rules "$dir/iptables/$table".*."$legacy".rules
      [ -e "$1" ] || [ -e "$2" ] || continue
      differing_chains "$ipt" "$table" "$@" | sed "s/^/chain $ipt $table /"
    done
  done
  # The collection's ip rules and routes (protocol 233; its route files hold nothing else), counted per family: what
  # systemd-networkd removes when it starts (ManageForeignRoutingPolicyRules=, ManageForeignRoutes=) or `ip rule
  # flush` takes (meanwhile the forward guard refuses what they would have routed). A listing ip cannot give says nothing.
  for family in inet inet6; do
    set -- "$dir"/route/*."$family".batch
    [ -e "$1" ] || continue
    case $family in inet) v=4 ;; *) v=6 ;; esac
    rules=$(ip -N -"$v" rule show 2>/dev/null) && routes=$(ip -"$v" route show table all proto 233 2>/dev/null) || continue
    lacks "ip -$v rules" "$(printf '%s\n' "$rules" | grep -cE ' proto 233( |$)')" "$(cat "$@" | grep -c '^rule add ')"
    lacks "ip -$v routes" "$(printf '%s' "$routes" | grep -c .)" "$(cat "$@" | grep -c '^route add ')"
  done
  for f in "$dir"/ipset/*.save; do  # a set whose members the plan gives (a list's networks): counted, as above
    [ -e "$f" ] || continue
    want=$(grep -c '^add ' "$f")
    [ "$want" -gt 0 ] || continue
    name=${f##*/}
    have=$(ipset list -t "${name%.save}" 2>/dev/null | sed -n 's/^Number of entries: //p')
    [ -z "$have" ] || lacks "ipset ${name%.save}" "$have" "$want"
  done
  return 0
}
# A learned save with each member's time left less the save's age; a member whose time ran out is left out: a gateway
# that was off, or a save some minutes old, gives no address back for longer than the resolver had left it.
# (A clock behind the file's time, as on a device without a real-time clock, counts no age.)
aged() {
  age=$(( $(date +%s) - $(stat -c %Y "$1") ))
  awk -v age="$age" '{ for (i = 4; i < NF; i++) if ($i == "timeout") {
    if ($(i + 1) > 0) { $(i + 1) -= (age > 0 ? age : 0); if ($(i + 1) <= 0) next }; break } print }' "$1"
}
# `missing` under the lock the modules hold from a change of the kernel to its boot files.
# shellcheck disable=SC2174  # $dir is there: only learned/ may be made, and -m is for it
missing_now() { (mkdir -p -m 0700 "$dir/learned" && exec 9>"$dir/learned/.lock" && flock 9 && missing); }
# With "watch" (wgsplit-watch.service): the deletions in the kernel's nf_tables ruleset (the nftables backend's table,
# iptables-nft's tables: `nft flush ruleset`, `iptables -t raw -F` typed by hand), followed with `nft monitor`, and of
# the collection's ip rules and routes (systemd-networkd's start, `ip rule flush`), followed with `ip monitor`. After
# each burst that may touch the collection (a flush is one deletion a rule), the timer's check: what is gone is back
# within about a second, not five minutes. (ipsets and iptables-legacy's tables are not nf_tables: the timer's.)
if [ "${1:-}" = watch ]; then
  # nf_tables' deletions (nft monitor), and the ip rules and routes (ip monitor: the collection's are those of protocol
  # 233), in one stream that ends when either monitor ends (killed, out of memory): the other is killed, the watch
  # exits and its unit starts it again, rather than listening with one monitor missing. Without nft, the ip rules and
  # routes alone (the rest: the timer's).
  events() {
    if command -v nft >/dev/null 2>&1; then
      ip -N -o monitor rule route 2>/dev/null &
      ip_monitor=$!
      nft -t monitor destroy &
      nft_monitor=$!
      while kill -0 $ip_monitor 2>/dev/null && kill -0 $nft_monitor 2>/dev/null; do sleep 1; done
      kill $ip_monitor $nft_monitor 2>/dev/null
    else
      echo "wgsplit: no nft: what is deleted of the firewall is put back by the timer only" >&2
      ip -N -o monitor rule route
    fi
  }
  # Reads until half a second passes without a line (at most five seconds: a stream of deletions is checked all the same).
  quiet() {
    n=0
    while [ $n -lt 10 ] && [ "$(timeout 0.5 cat | wc -c)" -gt 0 ]; do n=$((n + 1)); done
  }
  # What is missing (nothing: all there), with the boot files' times: a file a run rewrote since is another state.
  state() {
    lacking=$(missing_now </dev/null)
    [ -z "$lacking" ] ||
      printf '%s\n%s\n' "$lacking" "$(ls -l --full-time "$dir"/iptables "$dir"/nftables "$dir"/ipset "$dir"/route 2>/dev/null | cksum)"
  }
  # Puts back what is gone, and checks again once the deletions of its own "again" are read (another may have come
  # among them). When "again" fails and leaves the same state (a file that does not load: what it describes is
  # refused instead), that is not tried again until the state changes: no reload at each deletion of other software.
  # ("again" also fails for what the check does not list, a route of an upstream that is down: then nothing is left.)
  stuck=""
  repair() {
    rounds=0
    while [ $rounds -lt 10 ]; do
      now=$(state)
      [ -n "$now" ] || { stuck=""; return 0; }
      [ "$now" != "$stuck" ] || return 0
      stuck=""
      echo "wgsplit: missing, put back: $(printf '%s\n' "$now" | sed '$d' | head -n 5 | tr '\n' ';')" >&2
      sh "$0" again </dev/null || { [ "$(state)" = "$now" ] && stuck=$now; }
      quiet
      rounds=$((rounds + 1))
    done
  }
  # Whether a deletion may touch the collection: a table or chain deleted as a whole, a rule of a built-in chain (a
  # jump to one of the collection's), of a chain or table with a file of the collection (the event's words: delete
  # rule FAMILY TABLE CHAIN ...), events the monitor lost (netlink's buffer full), an ip rule or route of protocol 233.
  ours() {
    case "$1" in
      "#"*|"delete table "*|"delete chain "*|"Deleted "*" proto 233"|"Deleted "*" proto 233 "*) return 0 ;;
      "delete "*) ;;
      *) return 1 ;;  # ip monitor's other events
    esac
    set -f  # the event's words, not file names
    # shellcheck disable=SC2086
    set -- $1
    set +f
    [ $# -ge 5 ] || return 1
    case "$5" in PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) return 0 ;; esac
    case "$3" in
      ip) [ -e "$dir/iptables/$4.$5.inet.rules" ] || [ -e "$dir/iptables/$4.$5.ipv4.rules" ] ;;
      ip6) [ -e "$dir/iptables/$4.$5.inet6.rules" ] || [ -e "$dir/iptables/$4.$5.ipv6.rules" ] ;;
      inet) [ -e "$dir/nftables/$4.nft" ] ;;
      *) return 1 ;;
    esac
  }
  events | {
    # The monitor reads the ruleset before it listens (a second or more with large sets), and a deletion meanwhile
    # is not reported: the first check is made at once (what went while no one watched) and after that time.
    repair
    sleep 5
    repair
    while read -r line; do
      ours "$line" || continue
      quiet
      repair
    done
  }
  echo "wgsplit: monitor ended" >&2
  exit 1
fi
refill=false
if [ "${1:-}" = save ]; then
  # What is gone is put back first (so a ruleset flushed by hand costs at most the timer's interval), and what is
  # saved is then what the sets hold.
  [ -z "$(missing_now)" ] || sh "$0" again || status=1
  # shellcheck disable=SC2174  # as above
  mkdir -p -m 0700 "$dir/learned"
  # The modules take this lock while they empty a set and drop its saved copy: a save never puts back
  # what a run has just removed.
  exec 9>"$dir/learned/.lock"
  flock 9
  rm -f "$dir"/learned/.*.save "$dir"/learned/.*.nft
  for f in "$dir"/learned/*.save; do  # the learned members of a set the collection no longer has go
    [ -e "$f" ] && [ ! -e "$dir/ipset/${f##*/}" ] && rm -f "$f"
  done
  for f in "$dir"/learned/*.nft; do
    name=${f##*/}
    [ -e "$f" ] && ! cat "$dir"/nftables/*.learned 2>/dev/null | grep -qxF "${name%.nft}" && rm -f "$f"
  done
  for f in "$dir"/ipset/*.save; do
    [ -e "$f" ] || continue
    # Members the plan gives (a rule list's networks) are in the boot file already; counted ones keep their counts.
    grep -q '^add ' "$f" && ! grep -q '^create .* counters' "$f" && continue
    name=${f##*/}
    ipset save "${name%.save}" 2>/dev/null | grep '^add ' > "$dir/learned/.$name" || true
    # Emptied by hand (`ipset flush`) while the last save has members with time left: a client's cached answer
    # would go the default way. They go back (the modules drop the save of a set they empty).
    if [ ! -s "$dir/learned/.$name" ] && [ -s "$dir/learned/$name" ]; then
      aged "$dir/learned/$name" > "$dir/learned/.$name"
      if [ -s "$dir/learned/.$name" ]; then
        # Not taken (the set made again otherwise): not tried again every five minutes.
        ipset -exist restore < "$dir/learned/.$name" 2>/dev/null && refill=true ||
          { echo "wgsplit: $name: the learned addresses not restored" >&2; : > "$dir/learned/.$name"; }
      fi
    fi
    mv "$dir/learned/.$name" "$dir/learned/$name" || status=1
  done
  # The nftables backend: each set the resolver fills, as nft lists it (loading it again adds its elements).
  for f in "$dir"/nftables/*.learned; do
    [ -e "$f" ] || continue
    table=${f##*/}
    while read -r name; do
      saved="$dir/learned/$name.nft"
      nft list set inet "${table%.learned}" "$name" > "$dir/learned/.$name.nft" 2>/dev/null || {
        rm -f "$dir/learned/.$name.nft"; continue; }
      # Emptied by hand (`nft flush set`): its elements do not age, so the last save's go back.
      if ! grep -q 'elements = ' "$dir/learned/.$name.nft" && grep -qs 'elements = ' "$saved"; then
        # Not taken (the set declared otherwise now): the empty listing is saved, not tried again every five minutes.
        if nft -f "$saved" 2>/dev/null; then refill=true; rm -f "$dir/learned/.$name.nft"; continue; fi
        echo "wgsplit: $name: the learned addresses not restored" >&2
      fi
      mv "$dir/learned/.$name.nft" "$saved" || status=1
    done < "$f"
  done
  sync
  # Sets filled again from a save: the front resolver's cache goes, as after "again" (below).
  if $refill; then systemctl kill --kill-whom=main --signal=HUP wgsplit-resolver.service 2>/dev/null; fi
  exit $status
fi
# With "again": run by the drop-ins of nftables.service and netfilter-persistent.service right after they load or
# flush the ruleset. Not while the restore unit's own start is still queued (at boot it runs after them), nor at
# shutdown. It takes the learned lock (read-only: /etc is, under those units), so no save runs while sets refill.
again=false
kept=""  # again: where what the resolver's sets held waits while their table is replaced
drop_kept() { [ -z "$kept" ] || rm -rf "$kept"; kept=""; }
if [ "${1:-}" = again ]; then
  [ "$(systemctl is-system-running 2>/dev/null)" = stopping ] && exit 0
  systemctl list-jobs --no-legend wgsplit-restore.service 2>/dev/null | grep -q . && exit 0
  again=true
  # What it keeps aside goes on every way out: the watch stopped in the middle, or gone with the end of its output.
  trap drop_kept EXIT
  trap 'exit 1' HUP INT PIPE TERM
  for old in /run/wgsplit-again.*; do  # left by one killed outright (SIGKILL: no trap), its process gone
    [ -d "$old" ] && ! kill -0 "${old##*.}" 2>/dev/null && rm -rf "$old"
  done
  if [ -e "$dir/learned/.lock" ]; then exec 9<"$dir/learned/.lock"; flock 9; fi
fi
for f in "$dir"/ipset/*.save; do
  [ -e "$f" ] || continue
  ipset -exist restore -file "$f" || { echo "wgsplit: $f not restored" >&2; status=1; }
done
# What the resolver had learned, each member with the time it had left (a set that is gone is skipped). Again: only
# into a set that is empty (the firewall unit destroyed or flushed it); the others hold more than the last save.
for f in "$dir"/learned/*.save; do
  [ -e "$f" ] && [ -e "$dir/ipset/${f##*/}" ] || continue
  if $again; then
    name=${f##*/}
    ipset list -t "${name%.save}" 2>/dev/null | grep -qx 'Number of entries: 0' || continue
    [ -s "$f" ] && refill=true
  fi
  aged "$f" | ipset -exist restore 2>/dev/null || echo "wgsplit: $f: some learned addresses not restored" >&2
done
# The nftables backend: each table of the collection replaced as a whole; when its file is missing or does not
# load, its fallback (the server interface's packets marked "not classified": refused) is loaded instead.
for f in "$dir"/nftables/*.nft "$dir"/nftables/*.fallback; do
  [ -e "$f" ] || continue
  table=${f%.*}
  [ "$f" = "$table.fallback" ] && [ -e "$table.nft" ] && continue  # taken with its table file
  if $again && [ -e "$table.learned" ] && table_exists "${table##*/}"; then
    # Again, the table still there (perhaps flushed, or an old copy from a saved ruleset): replaced all the same;
    # what the resolver put into its sets is kept aside and loaded back with it.
    # Named before it is made: stopped in between, the exit's trap takes it all the same. (/run: root's only.)
    kept=/run/wgsplit-again.$$
    rm -rf "$kept"  # a namesake left by a process of that number
    mkdir -m 0700 "$kept" || kept=""
    while [ -n "$kept" ] && read -r name; do
      nft list set inet "${table##*/}" "$name" > "$kept/$name.nft" 2>/dev/null || rm -f "$kept/$name.nft"
    done < "$table.learned"
  fi
  # What the resolver learned (the last save, and again what its sets held) goes in with the table, in one
  # transaction: never the table with its resolver sets empty, where a new connection to a proxied name would be
  # classified the client's default way and keep that. A save that does not load with it is loaded on its own after.
  saves=""
  if [ -e "$table.learned" ]; then
    while read -r name; do
      for saved in "$dir/learned/$name.nft" ${kept:+"$kept/$name.nft"}; do
        [ -e "$saved" ] && saves="$saves $saved"
      done
    done < "$table.learned"
  fi
  # shellcheck disable=SC2086  # file names of the collection's (set names: letters, digits, _ and -)
  if [ -e "$table.nft" ] && [ -n "$saves" ] && cat "$table.nft" $saves | nft -f - 2>/dev/null; then
    saves=""
  elif [ ! -e "$table.nft" ] || ! nft -f "$table.nft"; then
    echo "wgsplit: $table.nft not loaded: what it classifies is refused" >&2
    status=1
    nft -f "$table.fallback" || echo "wgsplit: $table.fallback not loaded" >&2
    drop_kept
    continue
  fi
  refill=$again  # the resolver's sets start again from what was saved
  for saved in $saves; do
    name=${saved##*/}
    nft -f "$saved" 2>/dev/null || echo "wgsplit: ${name%.nft}: some learned addresses not restored" >&2
  done
  drop_kept
done
# Sets refilled from a save: the front resolver's cache goes (SIGHUP), so that a name asked again puts its addresses
# back instead of being answered from the cache alone.
if $refill; then systemctl kill --kill-whom=main --signal=HUP wgsplit-resolver.service 2>/dev/null; fi
restore_chain() {
  ipt=$(xtables "$1")
  "$ipt-restore" -w --noflush "$1" || return 1
  absent_jumps "$1" | while read -r table parent chain; do
    "$ipt" -w -t "$table" -I "$parent" 1 -j "$chain"
  done
}
# Restores the files of $pending in passes (a chain may jump to another); what did not load stays in $pending.
restore_pending() {
  while [ -n "$pending" ]; do
    left=""
    for f in $pending; do restore_chain "$f" 2>/dev/null || left="$left $f"; done
    left=${left# }
    [ "$left" = "$pending" ] && break
    pending=$left
  done
}
refuse_missing_targets() {
  ipt=$(xtables "$1")
  table=$(sed -n 's/^\*//p' "$1" | head -n 1)
  for target in $(sed -n 's/^-A [^ ]* .*-[jg] \([A-Za-z0-9_-]*\).*$/\1/p' "$1" | sort -u); do
    case "$target" in ACCEPT|DROP|RETURN|REJECT|MARK|CONNMARK|MASQUERADE|DNAT|SNAT|REDIRECT|LOG) continue ;; esac
    "$ipt" -w -t "$table" -S "$target" >/dev/null 2>&1 && continue
    echo "wgsplit: chain $target ($table) could not be restored: what it classifies is refused" >&2
    status=1
    "$ipt" -w -t "$table" -N "$target" || continue
    [ "$table" = nat ] || "$ipt" -w -t "$table" -A "$target" -j DROP
  done
}
# The raw chains first: from then on, what is not classified yet is refused until the mangle chains are back.
pending=""
for f in "$dir"/iptables/raw.*.rules; do [ -e "$f" ] && pending="$pending $f"; done
for f in "$dir"/iptables/*.rules; do
  case "${f##*/}" in raw.*) continue ;; esac
  [ -e "$f" ] && pending="$pending $f"
done
pending=${pending# }
restore_pending
if [ -n "$pending" ]; then
  for f in $pending; do refuse_missing_targets "$f"; done
  restore_pending
  for f in $pending; do restore_chain "$f" || { echo "wgsplit: $f not restored" >&2; status=1; }; done
fi
for f in "$dir"/route/*.batch; do
  [ -e "$f" ] || continue
  case "$f" in *.inet6.batch) family=-6 ;; *) family=-4 ;; esac
  # Line by line: one bad entry is not a failure of the others, and a rule already there is no failure.
  while read -r line; do
    # shellcheck disable=SC2086  # the words of a line the collection wrote (canonical values)
    out=$(ip "$family" $line 2>&1) || case "$out" in
      *"File exists"*) ;;
      *) echo "wgsplit: $f: $line: $out" >&2; status=1 ;;
    esac
  done < "$f"
done
exit $status
'''

# After the distribution's firewall restore units: they replace or flush tables (Debian's nftables.conf
# starts with `flush ruleset`), and what they load later would wipe the collection's chains.
FIREWALL_UNITS = ('netfilter-persistent.service', 'iptables.service', 'ip6tables.service', 'nftables.service',
                  'firewalld.service', 'ufw.service')
RESTORE_UNIT_TEXT = '''# Written by wgsplit.gateway.
[Unit]
Description=Restore wgsplit.gateway ipsets, firewall chains and policy routes
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service {firewall}
Before=network-pre.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={script}

[Install]
WantedBy=multi-user.target
'''.format(script=RESTORE_SCRIPT, firewall=' '.join(FIREWALL_UNITS))
# Started by its timer, and at shutdown while the sets are still there (whether or not the restore unit
# ever ran: a gateway that has not rebooted since the collection came).
LEARNED_UNIT_TEXT = '''# Written by wgsplit.gateway.
[Unit]
Description=Save the addresses the wgsplit.gateway resolver put into its sets
DefaultDependencies=no
Before=shutdown.target

[Service]
Type=oneshot
ExecStart={script} save

[Install]
WantedBy=halt.target poweroff.target reboot.target kexec.target
'''.format(script=RESTORE_SCRIPT)
LEARNED_TIMER_TEXT = '''# Written by wgsplit.gateway.
[Unit]
Description=Save the addresses the wgsplit.gateway resolver put into its sets, every five minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec=5min
AccuracySec=30s

[Install]
WantedBy=timers.target
'''
# Follows the deletions in the kernel's ruleset and puts back the collection's chains and table at once (the timer's
# check, within about a second). Restarted after five seconds, not stopped by systemd's start limit, when it ends.
WATCH_UNIT_TEXT = '''# Written by wgsplit.gateway.
[Unit]
Description=Put back the wgsplit.gateway chains and table when someone deletes them
After=wgsplit-restore.service
StartLimitIntervalSec=0

[Service]
ExecStart={script} watch
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
'''.format(script=RESTORE_SCRIPT)
# nftables.service starts, reloads and stops with `flush ruleset` (Debian's /etc/nftables.conf begins with it, and
# its ExecStop is `nft flush ruleset`): the nftables backend's table and iptables-nft's tables, the collection's chains
# in them, all go, and until the next run nothing would mark and nothing refuse. netfilter-persistent's start replaces
# whole tables. A drop-in has the restore script load them again right after.
FIREWALL_DROPIN_TEXT = '''# Written by wgsplit.gateway: its chains and table, loaded again after this unit changes the ruleset.
[Service]
ExecStartPost=-{script} again
{reload}ExecStopPost=-{script} again
'''
FIREWALL_DROPINS = (
    ('nftables.service.d/wgsplit-restore.conf',
     FIREWALL_DROPIN_TEXT.format(script=RESTORE_SCRIPT, reload='ExecReload=-%s again\n' % RESTORE_SCRIPT)),
    ('netfilter-persistent.service.d/wgsplit-restore.conf', FIREWALL_DROPIN_TEXT.format(script=RESTORE_SCRIPT, reload='')))
# The drop-in directories BootState made (it removes only those, and only empty).
DROPIN_DIRECTORIES = PERSIST_DIR + '/dropin-directories'
# The unit files (paths under UNIT_DIR) BootState installs with the first boot file and removes with the last.
BOOT_UNITS = ((RESTORE_UNIT, RESTORE_UNIT_TEXT), (LEARNED_UNIT, LEARNED_UNIT_TEXT),
              (LEARNED_TIMER, LEARNED_TIMER_TEXT), (WATCH_UNIT, WATCH_UNIT_TEXT)) + FIREWALL_DROPINS


def unit_instance(template, name):
    """The unit name of an instance of a template unit: ('x@.service', 3) -> 'x@3.service'."""
    return template.replace('@', '@%s' % name)


def unit_instance_prefix(template):
    """What every instance's unit name of a template unit starts with: 'x@.service' -> 'x@'."""
    return template.split('@')[0] + '@'


# Where an enabled unit's link is when its [Install] says WantedBy=multi-user.target (systemctl enable makes it).
BOOT_LINKS = 'multi-user.target.wants'


def boot_link(template, instance):
    """The path of an instance's boot link (BOOT_LINKS beside its template)."""
    return os.path.join(os.path.dirname(template), BOOT_LINKS, instance)


def linked_instances(template):
    """The instances of a template unit file (its path) enabled at boot, by name: what BOOT_LINKS beside it holds
    under an instance's name, whatever a link there points to (systemd pulls a unit in by the name), read from the
    disk as systemd reads them at boot (the manager's own idea of them may be stale)."""
    directory, name = os.path.dirname(boot_link(template, '')), os.path.basename(template)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [entry for entry in names if entry.startswith(unit_instance_prefix(name)) and entry != name]


def link_instance(template, instance):
    """Enable an instance at boot as systemctl enable would (a link to the template), atomically and on the disk,
    without asking the manager: so it neither reloads nor flags the units as changed on disk."""
    path = boot_link(template, instance)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    temporary = os.path.join(directory, '.wgsplit-' + instance)
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(template, temporary)
    os.rename(temporary, path)
    sync_directory(directory)


def unlink_instance(template, instance):
    """An instance's boot link removed, whatever it points to (systemd reads the name), on the disk."""
    path = boot_link(template, instance)
    if os.path.islink(path):
        os.unlink(path)
        sync_directory(os.path.dirname(path))


def owned_wireguard_config(text):
    """Whether a wg-quick configuration was written by the collection: its first line is the marker."""
    return text is not None and text.split('\n', 1)[0] == WIREGUARD_CONFIG_MARKER


def kernel_prefix(value):
    """(network, text): the network with host bits cleared, and its text as `ip` and `ipset save` print it
    ('default' for a /0, a bare address for a host, address/len otherwise)."""
    return ipaddress.ip_network(network_text(to_text(value), strict=False)), prefix_text(value)[2]


def prefix_text(value):
    """(IP version, prefix length, text) of kernel_prefix without an ipaddress object: a set's 100,000s of members
    are read on every run."""
    address, _slash, length = network_text(to_text(value), strict=False).partition('/')
    version, length = (6 if ':' in address else 4), int(length)
    if length == 0:
        return version, length, 'default'
    return version, length, address if length == (128 if version == 6 else 32) else '%s/%d' % (address, length)


def owned_table(table):
    """Whether a routing table number may be managed by the collection (1..2^32-1, not 253-255)."""
    return 0 < table <= 0xffffffff and table not in RESERVED_TABLES


def ordered_unique(values):
    """The values without repeats, in the order they first come."""
    result = []
    for value in values:
        if value not in result:
            result.append(value)
    return result


def list_delta(current, wanted):
    """Return (missing, extra): items of wanted not in current and of current
    not in wanted, each in its list's order."""
    current_set = set(current)
    wanted_set = set(wanted)
    return ([item for item in wanted if item not in current_set],
            [item for item in current if item not in wanted_set])


def empty_list(option):
    """Why a list option given empty is refused: a call that manages nothing is a mistake (an empty plan part)."""
    return '%s is empty: give at least one, or leave the task out' % option


# systemctl is-enabled's exit 0: the unit starts at boot (or cannot be enabled, and needs not be).
# A unit's ActiveState when it does not run and there is nothing to stop (one restarting after a failure is
# 'activating': it runs).
STOPPED = ('inactive', 'failed')
ENABLED = ('enabled', 'enabled-runtime', 'alias', 'static', 'indirect', 'generated', 'transient')


class Commands:
    """Runs commands as argument lists with a C locale so output parses the same everywhere."""

    def __init__(self, module):
        self.module = module
        self._paths = {}

    def path(self, name):
        if name not in self._paths:
            self._paths[name] = self.module.get_bin_path(name, required=True)
        return self._paths[name]

    def run(self, argv, data=None, check=True):
        """Run argv; stdin gets `data`.  Fails the module on a non-zero exit when `check`."""
        argv = [self.path(argv[0])] + [str(arg) for arg in argv[1:]]
        rc, out, err = self.module.run_command(argv, data=data, binary_data=data is not None,
                                               environ_update=C_LOCALE)
        if check and rc != 0:
            self.module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(argv), rc, err.strip()),
                                  cmd=argv, rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def json(self, argv, missing=None):
        """Run argv and parse its JSON output (`ip -j ...`); empty output means [].

        A failure whose message contains `missing` (say, a table that does not exist yet) also means [].
        """
        rc, out, err = self.run(argv, check=missing is None)
        if rc != 0:
            if missing in err:
                return []
            self.module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(argv), rc, err.strip()), rc=rc, stderr=err)
        return json.loads(out) if out.strip() else []


# A bulk call's arguments (thousands of rules, members or resolver lines) echoed back whole as its invocation would
# double what the call carries back and what the host and the controller then walk through (the secrets mask, the
# results' processing): an argument whose JSON is longer than this is echoed as its size.
ECHO_MAX = 65536


def invocation(params):
    """The `invocation` a module returns: its arguments, each large one as its size."""
    echoed = {}
    for key, value in params.items():
        size = len(json.dumps(value)) if isinstance(value, (list, dict, str)) else 0
        if size <= ECHO_MAX:
            echoed[key] = value
        elif isinstance(value, str):
            echoed[key] = '(%d characters, not echoed)' % len(value)
        else:
            echoed[key] = '(%d items, not echoed)' % len(value)
    return dict(module_args=echoed)


class BulkModule(AnsibleModule):
    """AnsibleModule whose results, failures included, echo each large argument as its size (invocation())."""

    def exit_json(self, **kwargs):
        kwargs.setdefault('invocation', invocation(self.params))
        super(BulkModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.setdefault('invocation', invocation(self.params))
        super(BulkModule, self).fail_json(msg, **kwargs)


class StateModule:
    """A read -> want -> apply -> verify -> report transaction.

    Subclasses implement `read()` and `want(current)` returning comparable
    values (the same shape), and `apply(current, wanted)` that changes the
    kernel in bulk.  `describe()` turns state into what diff and results show
    (so secrets can be hidden), `boot(wanted)` persists it and
    `report(current, wanted)` adds return values.
    """

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.cmd = Commands(module)
        self.warnings = []

    def managed(self, many, keys):
        """The objects a call manages: the list option `many`, or the one the top-level `keys` describe."""
        if self.params[many] is not None:
            if not self.params[many]:
                self.module.fail_json(msg=empty_list(many))
            return self.params[many]
        return [dict((key, self.params[key]) for key in keys)]

    def check(self):
        """Refuse, with fail_json, what the argument specification cannot say (names, duplicates)."""

    def read(self):
        raise NotImplementedError

    def want(self, current):
        raise NotImplementedError

    def apply(self, current, wanted):
        raise NotImplementedError

    def describe(self, state):
        return state

    def reached(self, state, wanted):
        """Whether the state read after applying is the wanted one."""
        return state == wanted

    def boot(self, wanted):
        """Persist `wanted` for boot; return True when a file changed."""
        return False

    def report(self, current, wanted):
        return {}

    def pending(self):
        """What a run would change, without changing it (the module in check mode): the reasons, or [] when the
        kernel and the boot files already hold what the call wants and the run would warn of nothing."""
        self.check()
        current = self.read()
        wanted = self.want(current)
        reasons = ['the kernel differs'] if current != wanted else []
        if self.boot(wanted):
            reasons.append('a boot file differs')
        return reasons + ['it warns: %s' % warning for warning in self.warnings]

    def run(self):
        self.check()
        current = self.read()
        wanted = self.want(current)
        changed = current != wanted
        if self.module.check_mode:
            changed = self.boot(wanted) or changed
        else:
            with learned_lock():  # the kernel and its boot files change together
                if changed:
                    self.apply(current, wanted)
                    reached = self.read()
                    if not self.reached(reached, wanted):
                        self.module.fail_json(
                            msg='the kernel state after applying the change differs from the wanted state',
                            diff=dict(before=self.describe(reached), after=self.describe(wanted)))
                changed = self.boot(wanted) or changed
        result = dict(changed=changed)
        if self.module._diff:  # large states (sets of 50,000 members) cost only when asked for
            result['diff'] = dict(before=self.describe(current), after=self.describe(wanted))
        result.update(self.report(current, wanted))
        for warning in self.warnings:
            self.module.warn(warning)
        self.module.exit_json(**result)


class BootState:
    """Files of one kind under /etc/wgsplit, loaded at boot by wgsplit-restore.service.

    Written atomically with mode 0600; the restore script and unit are
    installed with the first file and removed with the last one.
    """

    def __init__(self, module, kind, commands):
        if kind not in BOOT_KINDS:
            raise ValueError('unknown boot state kind %r' % kind)
        self.module = module
        self.directory = os.path.join(PERSIST_DIR, kind)
        self.cmd = commands
        self.restore_unit_changed = None  # checked once per call, not once per file (systemctl is slow)

    def path(self, name):
        return os.path.join(self.directory, name)

    def keep(self, name, lines):
        """Make boot file `name` hold `lines`, or remove it when `lines` is None; True when that changed anything."""
        if lines is None:
            return self.remove(name)
        return self.write(name, '\n'.join(lines) + '\n')

    def write(self, name, content):
        changed = write_file(self.module, self.path(name), content, 0o600)
        if self.restore_unit_changed is None:
            self.restore_unit_changed = self._ensure_restore_unit()
            return self.restore_unit_changed or changed
        return changed

    def remove(self, name):
        path = self.path(name)
        if not os.path.exists(path):
            return False
        if not self.module.check_mode:
            os.unlink(path)
            if not _any_boot_files():
                self._remove_restore_unit()
        return True

    def _ensure_restore_unit(self):
        changed = write_file(self.module, RESTORE_SCRIPT, RESTORE_SCRIPT_TEXT, 0o700)
        for unit, text in BOOT_UNITS:
            path = os.path.join(UNIT_DIR, unit)
            if not self.module.check_mode and not os.path.isdir(os.path.dirname(path)):
                # A drop-in directory, readable as systemd's own are; recorded, so that only one the collection
                # made goes with the last boot file.
                os.makedirs(os.path.dirname(path), 0o755)
                made = (read_text(DROPIN_DIRECTORIES) or '') + os.path.dirname(path) + '\n'
                write_file(self.module, DROPIN_DIRECTORIES, made, 0o600)
            changed = write_file(self.module, path, text, 0o644) or changed
        systemctl = self.module.get_bin_path('systemctl')
        if systemctl is None:
            return changed
        if changed and not self.module.check_mode:
            self.cmd.run(['systemctl', 'daemon-reload'], check=False)
            # The watch runs the script it started with: a new one takes over (a watch not running stays so).
            self.cmd.run(['systemctl', 'try-restart', WATCH_UNIT], check=False)
        disabled = disabled_units(self.module, systemctl, [RESTORE_UNIT, LEARNED_UNIT, LEARNED_TIMER, WATCH_UNIT])
        if disabled:
            changed = True
            if not self.module.check_mode:
                self.cmd.run(['systemctl', 'enable'] + disabled)
                # Saving and watching start now; without a running systemd (a chroot, an image build), at the next boot.
                started = [unit for unit in (LEARNED_TIMER, WATCH_UNIT) if unit in disabled]
                if started:
                    self.cmd.run(['systemctl', 'start'] + started, check=False)
        return changed

    def _remove_restore_unit(self):
        systemctl = self.module.get_bin_path('systemctl')
        if systemctl is not None and os.path.exists(RESTORE_UNIT_PATH):
            self.cmd.run(['systemctl', 'disable', '--now', LEARNED_TIMER, WATCH_UNIT], check=False)
            self.cmd.run(['systemctl', 'disable', RESTORE_UNIT, LEARNED_UNIT], check=False)
        for path in [os.path.join(UNIT_DIR, unit) for unit, _text in BOOT_UNITS] + [RESTORE_SCRIPT]:
            if os.path.exists(path):
                os.unlink(path)
        remove_empty_directories((read_text(DROPIN_DIRECTORIES) or '').splitlines())  # the drop-in ones it made
        if os.path.exists(DROPIN_DIRECTORIES):
            os.unlink(DROPIN_DIRECTORIES)
        if systemctl is not None:
            self.cmd.run(['systemctl', 'daemon-reload'], check=False)
        forget_learned()
        # Empty directories go too; /etc/wgsplit stays while something else of the collection is in it.
        remove_empty_directories([os.path.join(PERSIST_DIR, kind) for kind in BOOT_KINDS] + [LEARNED_DIR, PERSIST_DIR])


def disabled_units(module, systemctl, units):
    """Those of `units` (files in UNIT_DIR) not enabled, read in one systemctl is-enabled, which reads the unit files
    without a running systemd (a chroot, an image build) and prints one state per unit; it stops at a unit it does
    not find, so a unit without a file (not yet written, in check mode) is not asked."""
    present = [unit for unit in units if os.path.exists(os.path.join(UNIT_DIR, unit))]
    states = module.run_command([systemctl, 'is-enabled'] + present, environ_update=C_LOCALE)[1].split() if present else []
    if len(states) != len(present):
        return list(units)  # not one state per unit: enabled again, never taken as enabled
    enabled = set(unit for unit, state in zip(present, states) if state in ENABLED)
    return [unit for unit in units if unit not in enabled]


def remove_empty_directories(directories):
    """rmdir each of `directories` that is empty; one that is not, or is gone, stays as it is."""
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            pass


_LOCK_DEPTH = [0]  # taken again inside itself (an apply that empties a set, inside its module's run): held once


@contextlib.contextmanager
def learned_lock():
    """Held from a change of the kernel to its boot files, and while a set is emptied and its saved copy dropped: the
    restore script's save, its "again" and its watch take it too, so none of them reads the kernel and the files
    halfway through a change (the watch would put back what a run has just removed). Only where the script is."""
    lock = None
    if not _LOCK_DEPTH[0] and os.path.isdir(PERSIST_DIR):
        try:
            os.mkdir(LEARNED_DIR, 0o700)
        except OSError:  # there already (the restore script's save makes it too)
            pass
        lock = open(os.path.join(LEARNED_DIR, '.lock'), 'a')
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    _LOCK_DEPTH[0] += 1
    try:
        yield
    finally:
        _LOCK_DEPTH[0] -= 1
        if lock is not None:
            lock.close()


def forget_learned(set_name=None):
    """Remove what the resolver learned into one set (it is being removed), or into every set."""
    if not os.path.isdir(LEARNED_DIR):
        return
    for name in os.listdir(LEARNED_DIR):
        if set_name is None or name in (set_name + '.save', set_name + '.nft'):
            os.unlink(os.path.join(LEARNED_DIR, name))


def learned_saved(set_name):
    """Whether a save of what the resolver learned into the set holds anything: a set a run empties must lose it, even
    when the set is empty already (flushed by hand: the timer's save would fill it again from that save)."""
    return any(os.path.getsize(path) > 0 for path in (os.path.join(LEARNED_DIR, set_name + suffix) for suffix in ('.save', '.nft'))
               if os.path.isfile(path))


def _any_boot_files():
    for kind in BOOT_KINDS:
        directory = os.path.join(PERSIST_DIR, kind)
        if os.path.isdir(directory) and os.listdir(directory):
            return True
    return False


def read_text(path):
    """The file's text, or None when it does not exist. Bytes that are not UTF-8 (a hand-edited file) read as U+FFFD:
    such a text matches nothing the collection writes, and a reading that raised would stop every run, the one
    that would remove the file too."""
    try:
        with open(path, errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def sync_directory(directory):
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_file(module, path, content, mode):
    """Atomically make `path` hold `content` with `mode`; True when that changed anything."""
    try:
        mode_matches = (os.stat(path).st_mode & 0o7777) == mode
    except OSError:
        mode_matches = False
    if read_text(path) == content and mode_matches:
        return False
    if module.check_mode:
        return True
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.wgsplit-')
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, 'w') as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())  # the new content is on disk before the name points to it
        os.rename(temporary, path)
        sync_directory(directory)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return True
