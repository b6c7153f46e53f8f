# rmmctl-probe: time@1
# The host clock first (for the skew), then w32time: the service, its configuration (registry), its
# source (w32tm /query /source) and, when it runs and syncs from a server, one stripchart sample (the
# offset; rmmctl parses it). Each w32tm run is killed after 6 s: the section's budget is 12 s.
$ticks = [DateTime]::UtcNow.Ticks
function Run-W32tm([string]$Arguments) {
  $psi = New-Object System.Diagnostics.ProcessStartInfo
  $psi.FileName = 'w32tm.exe'
  $psi.Arguments = $Arguments
  $psi.UseShellExecute = $false
  $psi.CreateNoWindow = $true
  $psi.RedirectStandardOutput = $true
  $psi.RedirectStandardError = $true
  $p = [System.Diagnostics.Process]::Start($psi)
  $so = $p.StandardOutput.ReadToEndAsync()
  $se = $p.StandardError.ReadToEndAsync()
  if (-not $p.WaitForExit(6000)) {
    try { $p.Kill() } catch { }
    return 'rmmctl: w32tm did not answer within 6 s'
  }
  ($so.Result + $se.Result).Trim()
}
$tz = [TimeZoneInfo]::Local
$svc = Try-Get { Get-CimInstance Win32_Service -Filter "Name='W32Time'" -OperationTimeoutSec 4 }
$par = Try-Get { Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\Parameters' }
$running = [bool]($svc -and "$($svc.State)" -eq 'Running')
$source = $null
$server = $null
$chart = $null
if ($running) {
  $source = Try-Get { Run-W32tm '/query /source' }
  $first = "$source".Split([char]10)[0].Trim()
  $peer = $first.Split(',')[0].Trim()
  if ($peer -and $peer -notmatch '\s' -and $peer -notmatch '^rmmctl:') {
    $server = $peer
    $chart = Try-Get { Run-W32tm ('/stripchart /computer:' + $server + ' /samples:1 /dataonly') }
  }
}
[pscustomobject]@{
  ticks = $ticks
  timezone = $tz.Id
  utc_offset_min = [int]$tz.GetUtcOffset([DateTime]::UtcNow).TotalMinutes
  service = $(if ($svc) { [pscustomobject]@{ state = "$($svc.State)"; start_mode = "$($svc.StartMode)" } } else { $null })
  type = $(if ($par) { $par.Type } else { $null })
  ntp_server = $(if ($par) { $par.NtpServer } else { $null })
  source = $source
  server = $server
  stripchart = $chart
}
