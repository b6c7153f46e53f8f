# rmmctl-probe: services@1
# Automatic services that are not running, with what tells a failure from an expected stop: delayed
# start (Win32_Service.DelayedAutoStart, else the registry value), trigger start (a TriggerInfo key),
# the exit codes. Which of them failed is decided in rmmctl (probes/windows/system.py).
$key = 'HKLM:\SYSTEM\CurrentControlSet\Services\'
$rows = @(Get-CimInstance Win32_Service -Filter "StartMode='Auto' AND State<>'Running'" -OperationTimeoutSec 8)
$out = @(foreach ($s in $rows) {
  $delayed = $s.DelayedAutoStart
  if ($null -eq $delayed) {
    $delayed = Try-Get { [int](Get-ItemProperty -LiteralPath ($key + $s.Name) -Name DelayedAutostart).DelayedAutostart -eq 1 }
  }
  [pscustomobject]@{
    name = $s.Name
    display = $s.DisplayName
    state = "$($s.State)"
    start_mode = "$($s.StartMode)"
    delayed = $delayed
    trigger = [bool](Try-Get { Test-Path -LiteralPath ($key + $s.Name + '\TriggerInfo') })
    exit_code = $s.ExitCode
    service_exit_code = $s.ServiceSpecificExitCode
  }
})
[pscustomobject]@{ services = $out }
