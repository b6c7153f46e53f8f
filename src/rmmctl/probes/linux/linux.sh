# rmmctl Linux probe. POSIX sh: runs under dash, bash and busybox ash.
# Not run as is: rmmctl.probes.linux.bundle.build_script() assembles the header, ONLY the requested
# "#@ section NAME" blocks and a generated runner, bakes in the @PLACEHOLDERS@ and the prober sends the
# result in the exec request as `sh -c SCRIPT` (bundle.probe_command). Every block defines s_NAME;
# its stdout is the section body. Conventions:
#   rc 3 + a line "unavailable: REASON"  the tool or data source is missing on this host
#   "@@part NAME" ... "@@end NAME RC"   a sub-part inside a section (helper `part`)
# stderr is left alone (the transport keeps it for --debug); parsers see stdout only.
# Cheap on the host: every program started costs ~1 ms of CPU, so one-line and small /proc or /etc
# files are read with the `read` builtin (_cat), not cat/grep/sed/uname, and `timeout` wraps only
# programs that can hang (df on a dead mount, hostname -f on DNS, package managers).
#@ header
N=@NONCE@
SINCE=@SINCE@
PRIO=@PRIORITY@
LOGMAX=@LOGLIMIT@
LC_ALL=C; LANG=C; export LC_ALL LANG
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}; export PATH
has() { command -v "$1" >/dev/null 2>&1; }
NL='
'
# `timeout SECS CMD` syntax (coreutils, busybox >= 1.30) is assumed, as the SSH transport does.
T=; T2=
if has timeout; then T="timeout 20"; T2="timeout 2"; fi
unavailable() { echo "unavailable: $*"; return 3; }
part() { _pn=$1; shift; echo "@@part $_pn"; "$@"; _pr=$?; printf '\n@@end %s %s\n' "$_pn" "$_pr"; }
# A small text file through the read builtin (no process); the last line gets a newline.
_cat() { while IFS= read -r _l || [ -n "$_l" ]; do printf '%s\n' "$_l"; done 2>/dev/null <"$1"; }
# _cs = uptime in centiseconds (0 without /proc/uptime); sets a variable: $(...) would fork.
now_cs() { _cs=0; read -r _u _x 2>/dev/null </proc/uptime || return 0; _cs=$(( ${_u%.*} * 100 + 1${_u#*.} - 100 )); }
run() {
  echo "@@$N BEGIN $1"; now_cs; _t0=$_cs
  "s_$1"; _rc=$?
  now_cs
  printf '\n@@%s END %s %s %s\n' "$N" "$1" "$_rc" "$(( _cs - _t0 ))"
}
# CPU and process samples: the first at the start of the run, the second when the first of the cpu and
# processes sections runs, at least 0.2 s later. _CN holds "cN cpu..." lines (the leading cpu lines of
# /proc/stat, read by the builtin), _PN "pN PID STATE UTIME STIME COMM" lines (only when $2 is 1).
_sample() {
  _o=
  while IFS= read -r _l; do
    case $_l in cpu*) _o="$_o${_o:+$NL}c$1 $_l" ;; *) break ;; esac
  done 2>/dev/null </proc/stat
  eval "_C$1=\$_o; _P$1="
  [ "$2" = 1 ] || return 0
  _o=$(cat /proc/[0-9]*/stat 2>/dev/null |
    sed -n "s/^\([0-9][0-9]*\) (\(.*\)) \([A-Za-z]\) \([^ ]* \)\{10\}\([0-9]*\) \([0-9]*\) .*/p$1 \1 \3 \5 \6 \2/p")
  eval "_P$1=\$_o"
}
_sample1() { _W=$1; now_cs; _T1=$_cs; _sample 1 "$_W"; _S2=; }
_sample2() {
  [ -n "$_S2" ] && return 0
  _S2=1; now_cs; _d=$(( 20 - (_cs - _T1) ))
  case $_d in ?) _d=0$_d ;; esac
  if [ "$_d" -gt 0 ]; then sleep "0.$_d" 2>/dev/null || sleep 1; fi
  _sample 2 "$_W"
}
# Print the non-empty ones of these values, one per line.
_lines() { for _v in "$@"; do [ -z "$_v" ] || printf '%s\n' "$_v"; done; }
#@ section time
s_time() {
  _e=$(date '+%s.%N %z' 2>/dev/null); _z=${_e#* }; _e=${_e%% *}
  case $_e in *[!0-9.]*|*.|'') _e=$(date +%s);; esac
  case $_z in [+-][0-9][0-9][0-9][0-9]) ;; *) _z=$(date +%z);; esac
  echo "epoch=$_e"
  echo "utc_offset=$_z"
  if [ -r /etc/timezone ]; then _l=; read -r _l </etc/timezone; echo "timezone=$_l"
  elif [ -L /etc/localtime ]; then echo "localtime=$(readlink /etc/localtime)"; fi
  _ntpd=$(grep -hxE 'chronyd|ntpd|systemd-timesyn|openntpd|ntpsec' /proc/[0-9]*/comm 2>/dev/null)
  _ntpd=${_ntpd%%"$NL"*}
  echo "ntp_daemon=$_ntpd"
  if [ -d /run/systemd/system ] && has timedatectl; then part timedatectl $T timedatectl show; fi
  if has chronyc && [ "$_ntpd" = chronyd ]; then part chrony $T chronyc -c tracking; fi
  if has ntpq && [ "$_ntpd" = ntpd ]; then part ntpq $T ntpq -pn; fi
  return 0
}
#@ section host
s_host() {
  read -r _l 2>/dev/null </proc/sys/kernel/hostname || _l=$(uname -n)
  echo "hostname=$_l"
  if has hostname; then echo "fqdn=$($T2 hostname -f 2>/dev/null)"; fi
  read -r _l 2>/dev/null </proc/sys/kernel/osrelease || _l=$(uname -r)
  echo "kernel=$_l"
  read -r _l 2>/dev/null </proc/sys/kernel/arch || _l=$(uname -m)
  echo "arch=$_l"
  for _f in /etc/machine-id /var/lib/dbus/machine-id; do
    if [ -s "$_f" ]; then _l=; read -r _l <"$_f"; echo "machine_id=$_l"; break; fi
  done
  return 0
}
#@ section os
s_os() {
  for _f in /etc/os-release /usr/lib/os-release; do
    if [ -r "$_f" ]; then _cat "$_f"; return 0; fi
  done
  unavailable "no /etc/os-release or /usr/lib/os-release"
}
#@ section uptime
s_uptime() {
  [ -r /proc/uptime ] || { unavailable "/proc/uptime is not readable"; return; }
  read -r _l </proc/uptime; echo "uptime $_l"
  _l=; read -r _l 2>/dev/null </proc/loadavg; echo "loadavg $_l"
  grep '^btime' /proc/stat
  return 0
}
#@ section memory
s_memory() {
  [ -r /proc/meminfo ] || { unavailable "/proc/meminfo is not readable"; return; }
  # the lines the parser reads (7 of ~55: less to send and parse, every round of rmmctl watch)
  while IFS= read -r _l || [ -n "$_l" ]; do
    case $_l in MemTotal:*|MemFree:*|MemAvailable:*|Buffers:*|Cached:*|SwapTotal:*|SwapFree:*) printf '%s\n' "$_l";; esac
  done 2>/dev/null </proc/meminfo
}
#@ section filesystems
s_filesystems() {
  has df || { unavailable "no df command"; return; }
  # GNU df gives sizes and inodes in one run (part dfo); busybox df has no --output (nothing on stdout):
  # two runs. A df that timed out is not run twice more.
  _o=$($T df -k --output=source,size,used,avail,itotal,iused,iavail,target 2>/dev/null); _r=$?
  if [ -n "$_o" ] || [ "$_r" = 124 ] || [ "$_r" = 137 ]; then printf '@@part dfo\n%s\n\n@@end dfo %s\n' "$_o" "$_r"
  else part df $T df -P -k; part inodes $T df -P -i; fi
  part mounts cat /proc/mounts
  return 0
}
#@ section services
s_services() {
  _l=; read -r _l 2>/dev/null </proc/1/comm; echo "init=$_l"
  if [ ! -d /run/systemd/system ]; then echo "systemd=0"; return 0; fi
  echo "systemd=1"
  has systemctl || { unavailable "systemd is running but systemctl is missing"; return; }
  part state $T systemctl is-system-running
  part failed $T systemctl list-units --failed --plain --no-legend --no-pager --full
  return 0
}
#@ section logs
# Header `key=value` lines, `--`, then the entries; when none were found at the level, `@@census` and
# what is below it (journal: one PRIORITY per line; syslog: the file's last lines) so the parser can
# say how many less severe entries there were. No extra program runs while entries are found.
_syslog_file() {
  for _f in /var/log/syslog /var/log/messages; do
    if [ -r "$_f" ]; then echo "$_f"; return 0; fi
  done
  return 1
}
_JFIELDS=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_SYSTEMD_UNIT,_COMM,_PID,SYSLOG_PID
# journalctl PRIO FORMAT COUNT [FIELDS] with its own messages merged in: entries are the lines that
# start with "{", anything else is journalctl speaking ("No journal files were opened ...", "Hint: ...").
_jq() { $T journalctl --since "@$SINCE" -p "$1" -o "$2" --no-pager -n "$3" ${4:+"--output-fields=$4"} 2>&1; }
# P_LOG_MATCH (newline-separated regexes from checks): keep only matching lines (and journalctl's own).
_matching() { grep -iE -e "$P_LOG_MATCH" -e '^[^{]' | tail -n "$LOGMAX"; }
_jread() {
  if [ -n "${P_LOG_MATCH:-}" ]; then _jo=$(_jq "$PRIO" json 100000000 $1 | _matching); else _jo=$(_jq "$PRIO" json "$LOGMAX" $1); fi
  _jr=$?
}
# Sets _jo (output), _jr (rc) and _js: read (entries, or checks' patterns matched nothing), below (none
# at the level, some less severe: _census), empty (none at all in the window), unreadable.
_journal() {
  _jread "$_JFIELDS"
  case $_jo in *"unrecognized option '--output-fields"*) _jread "" ;; esac  # systemd < 236
  case "$NL$_jo" in *"$NL{"*) _js=read; return 0 ;; esac
  case $_jo in
    *"insufficient permissions"*|*"not seeing messages from other users"*|*"No journal files"*) _js=unreadable; return 0 ;;
  esac
  if [ "$_jr" != 0 ]; then _js=unreadable; return 0; fi
  _js=read; [ -z "${P_LOG_MATCH:-}" ] || return 0
  # The census: journalctl just answered, so it runs without `timeout` (as many programs as before)
  _census=$(journalctl --since "@$SINCE" -p 7 -o cat --no-pager -n 10000 --output-fields=PRIORITY 2>&1)
  case "$NL$_census" in *"$NL"[0-7]*) _js=below; return 0 ;; esac
  _js=empty; _journald=0
  for _p in /proc/[0-9]*/comm; do
    read -r _c 2>/dev/null <"$_p" || continue
    if [ "$_c" = systemd-journal ]; then _journald=1; break; fi
  done
}
# Syslog lines carry no severity: keep lines with these words (linux_logs.py classifies them).
_syslog() {
  _pat='emerg|panic|alert|crit|oom|out of memory|segfault|call trace|error|fail|fatal|denied|unable|cannot|no such'
  if [ "$PRIO" -ge 5 ]; then _pat='.'; elif [ "$PRIO" -ge 4 ]; then _pat="$_pat|warn|timed out|not responding"; fi
  [ -z "${P_LOG_MATCH:-}" ] || _pat=$P_LOG_MATCH
  _d=$(date '+%z %s')
  echo "file=$_file"; echo "utc_offset=${_d% *}"; echo "now=${_d#* }"; echo "--"
  _so=$(tail -n 20000 "$_file" | grep -iE "$_pat" | tail -n "$LOGMAX")
  if [ -n "$_so" ]; then printf '%s\n' "$_so"
  elif [ -z "${P_LOG_MATCH:-}" ]; then echo "@@census"; tail -n 2000 "$_file"; fi
  return 0
}
# P_LOG_FILE (rmmctl logs --source /path): read that file, syslog format, instead of the journal.
s_logs() {
  _src=; _js=; _journald=
  if [ -n "${P_LOG_FILE:-}" ]; then
    if [ -r "$P_LOG_FILE" ]; then _src=syslog; _file=$P_LOG_FILE
    else unavailable "cannot read $P_LOG_FILE (missing, or not readable by $(id -un))"; return; fi
  elif [ -d /run/systemd/system ] && has journalctl; then _src=journal
  elif _file=$(_syslog_file); then _src=syslog
  else unavailable "no systemd journal and no readable /var/log/syslog or /var/log/messages"; return; fi
  if [ -n "${P_LOG_MATCH:-}" ] && [ "$PRIO" -lt 6 ]; then PRIO=6; fi
  if [ "$_src" = journal ]; then
    _journal
    case $_js in unreadable|empty) if _file=$(_syslog_file); then _src=syslog; fi ;; esac
  fi
  echo "source=$_src"; echo "since=$SINCE"; echo "priority=$PRIO"; echo "limit=$LOGMAX"; echo "id=$(id)"
  [ -z "$_js" ] || echo "journal=$_js"
  [ -z "$_journald" ] || echo "journald=$_journald"
  if [ "$_src" = syslog ]; then
    [ -z "$_js" ] || echo "journal_said=${_jo%%"$NL"*}"
    _syslog; return 0
  fi
  echo "--"
  [ -z "$_jo" ] || printf '%s\n' "$_jo"
  if [ "$_js" = below ]; then echo "@@census"; printf '%s\n' "$_census"; fi
  return 0
}
#@ section reboot
s_reboot() {
  for _f in /run/reboot-required /var/run/reboot-required; do
    if [ -e "$_f" ]; then
      echo "method=reboot-required"; echo "required=1"
      sed 's/^/package=/' "$_f.pkgs" 2>/dev/null
      return 0
    fi
  done
  if [ -d /var/lib/dpkg ]; then echo "method=reboot-required"; echo "required=0"; return 0; fi
  if has needs-restarting; then
    echo "method=needs-restarting"; part needs_restarting $T needs-restarting -r; return 0
  fi
  unavailable "no reboot indicator (no /run/reboot-required support, no needs-restarting)"
}
#@ section updates
_apt_list() { $T apt list --upgradable 2>/dev/null; }
_dnf_check() { $T "$1" -q -C check-update 2>&1; }
_dnf_security() { $T "$1" -q -C updateinfo list --security 2>/dev/null; }
s_updates() {
  if has apt-get && has apt; then
    echo "manager=apt"
    for _f in /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists/partial /var/lib/apt/lists; do
      if [ -e "$_f" ]; then echo "lists_mtime=$(date -r "$_f" +%s)"; break; fi
    done
    part upgradable _apt_list
    return 0
  fi
  for _pm in dnf yum; do
    if has "$_pm"; then
      echo "manager=$_pm"
      part check_update _dnf_check "$_pm"
      part security _dnf_security "$_pm"
      return 0
    fi
  done
  unavailable "no supported package manager (apt, dnf, yum)"
}
#@ section backup
# P_BACKUP_PATHS: newline-separated paths from the inventory (backup_paths). A directory reports its
# newest regular file (up to 3 levels deep) and how many files it holds.
_backup_newest() {
  $T find "$1" -maxdepth 3 -type f -exec stat -c '%Y %s %n' {} + 2>/dev/null |
    sort -rn | awk 'NR == 1 { print "newest=" $0 } END { print "files=" NR }'
}
s_backup() {
  echo "now=$(date +%s)"
  [ -n "${P_BACKUP_PATHS:-}" ] || return 0
  printf '%s\n' "$P_BACKUP_PATHS" | while IFS= read -r _p; do
    [ -n "$_p" ] || continue
    echo "path=$_p"
    if [ -d "$_p" ]; then echo "kind=dir"; _backup_newest "$_p"
    elif [ -f "$_p" ]; then echo "kind=file"; echo "stat=$(stat -c '%Y %s' "$_p")"
    elif [ -e "$_p" ]; then echo "kind=other"
    else echo "kind=missing"; fi
  done
  return 0
}
#@ section av
# ClamAV signature databases: DatabaseDirectory from freshclam.conf (or P_AV_DB_DIR, or /var/lib/clamav).
_av_dbdir() {
  if [ -n "${P_AV_DB_DIR:-}" ]; then echo "$P_AV_DB_DIR"; return; fi
  for _c in /etc/clamav/freshclam.conf /etc/freshclam.conf /usr/local/etc/freshclam.conf; do
    [ -r "$_c" ] || continue
    _d=$(sed -n 's/^[[:space:]]*DatabaseDirectory[[:space:]][[:space:]]*//p' "$_c" | tail -n 1)
    if [ -n "$_d" ]; then echo "$_d"; return; fi
  done
  echo /var/lib/clamav
}
s_av() {
  _db=$(_av_dbdir); _tools=
  for _b in freshclam clamscan clamd clamdscan; do has "$_b" && _tools="$_tools $_b"; done
  if [ -z "$_tools" ] && [ ! -d "$_db" ]; then unavailable "ClamAV is not installed (no freshclam or clamscan, no $_db)"; return; fi
  echo "now=$(date +%s)"; echo "tools=${_tools# }"; echo "db_dir=$_db"
  for _f in "$_db"/*.cvd "$_db"/*.cld; do
    [ -f "$_f" ] || continue
    echo "db=$(stat -c '%Y %s' "$_f") ${_f##*/}"
    echo "header=${_f##*/} $(head -c 100 "$_f" 2>/dev/null | tr -cd 'A-Za-z0-9:+ ._-' | cut -d: -f1-4)"
  done
  for _l in /var/log/clamav/freshclam.log /var/log/freshclam.log; do
    if [ -r "$_l" ]; then echo "log=$_l"; part log_tail tail -n 15 "$_l"; break; fi
  done
  return 0
}
#@ section printers
# CUPS through its own clients (no root needed, except for the error_log). Bounded: at most 200
# printers, 500 jobs and 200 log lines. Parts: scheduler (lpstat -r), options (per printer
# "@@printer NAME" + `lpoptions -p NAME`, one shell-quoted line), status (lpstat -l -p: the printer
# line, its message, Alerts and Interface), jobs (lpstat -l -o), ipp (ipptool Get-Jobs: true job
# states, when ipptool is installed) and log (E/W lines of the error_log).
_cups_uri() {
  case ${CUPS_SERVER:-} in
    /*) _s=$CUPS_SERVER ;;
    ?*) echo "ipp://${CUPS_SERVER%%/*}/"; return ;;
    *) _s=/run/cups/cups.sock; [ -S "$_s" ] || _s=/var/run/cups/cups.sock ;;
  esac
  if [ -S "$_s" ]; then echo "ipp://$(echo "$_s" | sed 's#/#%2F#g')/"; else echo "ipp://localhost:631/"; fi
}
_cups_jobs_ipp() {
  $T ipptool -c "$(_cups_uri)" /dev/stdin <<'EOT'
{
OPERATION Get-Jobs
GROUP operation-attributes-tag
ATTR charset attributes-charset utf-8
ATTR naturalLanguage attributes-natural-language en
ATTR uri printer-uri $uri
ATTR keyword which-jobs not-completed
ATTR keyword requested-attributes job-id,job-state,job-state-reasons,job-printer-state-message
DISPLAY job-id
DISPLAY job-state
DISPLAY job-state-reasons
DISPLAY job-printer-state-message
}
EOT
}
_cups_options() {
  for _p in $($T lpstat -p 2>/dev/null | sed -n 's/^printer \([^ ]*\) .*/\1/p' | head -n 200); do
    echo "@@printer $_p"; $T lpoptions -p "$_p" 2>&1
  done
}
_cups_jobs() { $T lpstat -l -o 2>&1 | head -n 2000; }
_cups_status() {
  $T lpstat -l -p 2>&1 | awk '/^printer /{print; m=1; next}
    m && /^\t/ && !/^\tForm mounted:/{print} {m=0} /^\t(Alerts|Interface):/{print}' | head -n 1000
}
_cups_log() {
  _f=/var/log/cups/error_log
  [ -e "$_f" ] || { echo "no $_f"; return 1; }
  [ -r "$_f" ] || { echo "$_f is not readable (needs root or the adm group)"; return 1; }
  tail -n 5000 "$_f" | grep -E '^[EW] |stopped due to|\) stopped with status' | tail -n 200
}
s_printers() {
  has lpstat || { unavailable "no lpstat command (CUPS client not installed)"; return; }
  echo "epoch=$(date +%s)"; echo "utc_offset=$(date +%z)"
  _r=$($T lpstat -r 2>&1)
  part scheduler echo "$_r"
  case $_r in *"scheduler is running"*) ;; *) return 0 ;; esac
  part options _cups_options
  part status _cups_status
  part jobs _cups_jobs
  if has ipptool; then part ipp _cups_jobs_ipp; fi
  part log _cups_log
  return 0
}
#@ section cpu
s_cpu() {
  [ -r /proc/stat ] || { unavailable "/proc/stat is not readable"; return; }
  _sample2
  _cpu_model
  _lines "$_C1" "$_C2"
  return 0
}
# "model=..." from the first "model name : ..." line of /proc/cpuinfo. The builtin reads the first
# processor block (where x86 and arm32 have it); past that sed reads the rest.
_cpu_model() {
  while IFS= read -r _l; do
    case $_l in
      '') sed -n 's/^model name[[:space:]]*:[[:space:]]*/model=/p' /proc/cpuinfo | head -n 1; return 0 ;;
      'model name'*) ;;
      *) continue ;;
    esac
    _l=${_l#model name}
    while :; do case $_l in [[:space:]]*) _l=${_l#?} ;; *) break ;; esac; done
    case $_l in :*) _l=${_l#:} ;; *) continue ;; esac
    while :; do case $_l in [[:space:]]*) _l=${_l#?} ;; *) break ;; esac; done
    printf 'model=%s\n' "$_l"; return 0
  done 2>/dev/null </proc/cpuinfo
}
#@ section processes
s_processes() {
  [ -r /proc/stat ] || { unavailable "/proc is not readable"; return; }
  _sample2
  sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/memtotal_kb \1/p' /proc/meminfo
  _lines "$_C1" "$_P1" "$_C2" "$_P2"
  grep -H -E '^(Uid|VmRSS):' /proc/[0-9]*/status 2>/dev/null
  cut -d: -f1,3 /etc/passwd 2>/dev/null | sed 's/^/pw /'
  return 0
}
