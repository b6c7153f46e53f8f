# rmmctl-probe: logs@1
# The Event Log: entries at Level 1..$P.log_level_num (0 LogAlways counts as information) since $P.since
# (unix seconds; else now - LOG_WINDOW_S, default 24 h), at most $P.log_limit per log, newest first.
# $P.LOG_SOURCE: a log name when such a log exists, else a provider over System and Application.
# $P.LOG_MATCH (regexes from checks): keep only entries whose message matches one.
# One log that cannot be read (the Security log needs admin or Event Log Readers) is noted, not fatal;
# the section throws only when no log could be read for another reason (no such provider ...).
$epoch = New-Object DateTime 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
$now = [DateTime]::UtcNow
$since = $P.since
if ($null -eq $since) {
  $window = 86400
  if ("$($P.LOG_WINDOW_S)" -match '^\d+$') { $window = [long]"$($P.LOG_WINDOW_S)" }
  $since = [Math]::Floor(($now - $epoch).TotalSeconds) - $window
}
$start = $epoch.AddSeconds([double]$since).ToLocalTime()
$max = 3
if ("$($P.log_level_num)" -match '^[1-5]$') { $max = [int]"$($P.log_level_num)" }
$limit = 500
if ("$($P.log_limit)" -match '^\d+$' -and [int]"$($P.log_limit)" -gt 0) { $limit = [int]"$($P.log_limit)" }
$levels = @(1..$max)
if ($max -ge 4) { $levels = @(0) + $levels }
$logs = @('System', 'Application')
$provider = $null
$src = "$($P.LOG_SOURCE)"
if ($src -ne '') {
  $known = $null
  $listDenied = $false
  try { $known = @(Get-WinEvent -ListLog $src -ErrorAction Stop) }
  catch { $listDenied = ($_.Exception -is [System.UnauthorizedAccessException]) -or ("$($_.Exception.Message)" -match 'unauthorized') }
  if ($listDenied) { $logs = @($src) }
  elseif ($known) { $logs = @($known | ForEach-Object { $_.LogName }) }
  else { $provider = $src }
}
$match = @($P.LOG_MATCH | Where-Object { $_ }) -join '|'
$denied = @()
$failed = @()
$read = @()
$truncated = $false
$events = @()
foreach ($log in $logs) {
  $filter = @{ LogName = $log; Level = $levels; StartTime = $start }
  if ($provider) { $filter['ProviderName'] = $provider }
  $err = $null
  $thrown = $null
  $got = @()
  try { $got = @(Get-WinEvent -FilterHashtable $filter -MaxEvents $limit -ErrorAction SilentlyContinue -ErrorVariable err) }
  catch { $thrown = $_ }
  $bad = @(@($err) + @($thrown) | Where-Object { $_ -and $_.FullyQualifiedErrorId -notmatch 'NoMatchingEventsFound' })
  if (@($bad | Where-Object { $_.Exception -is [System.UnauthorizedAccessException] -or "$($_.Exception.Message)" -match 'unauthorized' }).Count -gt 0) {
    $denied += $log
  } elseif ($bad.Count -gt 0 -and $got.Count -eq 0) {
    $failed += "${log}: $($bad[0].Exception.Message)"
  } else {
    $read += $log
  }
  if ($got.Count -ge $limit) { $truncated = $true }
  $events += $got
}
if ($read.Count -eq 0 -and $denied.Count -eq 0 -and $failed.Count -gt 0) { throw ($failed -join '; ') }
$events = @($events | Sort-Object TimeCreated -Descending)
if ($match) { $events = @($events | Where-Object { "$($_.Message)" -match $match }) }
if ($events.Count -gt $limit) { $truncated = $true; $events = @($events | Select-Object -First $limit) }
$entries = @(foreach ($e in $events) {
  $msg = $e.Message
  if ($null -ne $msg) { $msg = "$msg"; if ($msg.Length -gt 400) { $msg = $msg.Substring(0, 400) } }
  [pscustomobject]@{ time = Iso $e.TimeCreated; level = [int]$e.Level; log = $e.LogName; provider = $e.ProviderName
    id = [int]$e.Id; pid = $e.ProcessId; message = $msg }
})
$census = $null
$censusDone = $false
if ($entries.Count -eq 0 -and $max -lt 5 -and -not $match -and $read.Count -gt 0) {
  $censusDone = $true
  $census = @(foreach ($log in $read) {
    $filter = @{ LogName = $log; StartTime = $start }
    if ($provider) { $filter['ProviderName'] = $provider }
    Get-WinEvent -FilterHashtable $filter -MaxEvents 2000 -ErrorAction SilentlyContinue | ForEach-Object { [int]$_.Level }
  })
}
[pscustomobject]@{
  since = [long]$since
  max_level_num = $max
  limit = $limit
  logs = $logs
  provider = $provider
  read = $read
  denied = $denied
  failed = $failed
  truncated = $truncated
  census_done = $censusDone
  census = $census
  entries = $entries
}
