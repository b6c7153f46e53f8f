# rmmctl-probe: uptime@1
# Win32_OperatingSystem: the boot time and the process count (Windows keeps no load averages)
$os = Get-CimInstance Win32_OperatingSystem -OperationTimeoutSec 8
$boot = $os.LastBootUpTime
[pscustomobject]@{
  now = Iso ([DateTime]::UtcNow)
  last_boot = Iso $boot
  uptime_s = $(if ($boot) { [double]([DateTime]::Now - $boot).TotalSeconds } else { $null })
  processes = $(if ($null -ne $os.NumberOfProcesses) { [int]$os.NumberOfProcesses } else { $null })
}
