# rmmctl-probe: time@1
# The host clock first (for the skew), then w32time: the service, its configuration (registry), its
# source (w32tm /query /source) and, when it runs and syncs from a server, one stripchart sample (the
# offset; rmmctl parses it). The w32tm runs share 9 s and are killed past it: the section's budget is 12 s.
$epoch = ([DateTime]::UtcNow.Ticks - 621355968000000000) / 10000000.0
$t0 = [DateTime]::UtcNow
function Run-W32tm([string]$Arguments, [int]$Ms) {
  $left = 9000 - ([DateTime]::UtcNow - $t0).TotalMilliseconds
  $wait = [int][Math]::Min($Ms, $left)
  if ($wait -le 0) { return 'rmmctl: no time left for w32tm' }
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
  if (-not $p.WaitForExit($wait)) {
    try { $p.Kill() } catch { }
    return "rmmctl: w32tm did not answer within $wait ms"
  }
  ($so.Result + $se.Result).Trim()
}
$tz = [TimeZoneInfo]::Local
$svc = Try-Get { Get-CimInstance Win32_Service -Filter "Name='W32Time'" -OperationTimeoutSec 3 }
$par = Try-Get { Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\Parameters' }
$running = [bool]($svc -and "$($svc.State)" -eq 'Running')
$source = $null
$server = $null
$chart = $null
if ($running) {
  $source = Try-Get { Run-W32tm '/query /source' 3000 }
  $first = "$source".Split([char]10)[0].Trim()
  $peer = $first.Split(',')[0].Trim()
  if ($peer -and $peer -notmatch '\s' -and $peer -notmatch '^rmmctl:') {
    $server = $peer
    $chart = Try-Get { Run-W32tm ('/stripchart /computer:' + $server + ' /samples:1 /dataonly') 6000 }
  }
}
[pscustomobject]@{
  epoch = $epoch
  timezone = $tz.Id
  utc_offset_min = [int]$tz.GetUtcOffset([DateTime]::UtcNow).TotalMinutes
  service = $(if ($svc) { [pscustomobject]@{ state = "$($svc.State)"; start_mode = "$($svc.StartMode)" } } else { $null })
  type = $(if ($par) { $par.Type } else { $null })
  ntp_server = $(if ($par) { $par.NtpServer } else { $null })
  source = $source
  server = $server
  stripchart = $chart
}
