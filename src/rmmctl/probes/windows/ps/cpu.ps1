# rmmctl-probe: cpu@1
# Win32_Processor (model, logical CPUs) and the _Total instance of the processor perf class: the class
# and its property names are not localized (counter paths such as \Processor(_Total)\% Processor Time are)
$cpus = @(Get-CimInstance Win32_Processor -OperationTimeoutSec 8)
$logical = 0
foreach ($c in $cpus) { $logical += [int]$c.NumberOfLogicalProcessors }
# a formatted (cooked) counter needs two samples: a first query primes the WMI provider, whose first answer
# after a while can be 0 or 100; the second one, 0.5 s later, is the value over that interval
$q = { Get-CimInstance Win32_PerfFormattedData_PerfOS_Processor -Filter "Name='_Total'" -OperationTimeoutSec 4 }
$null = Try-Get $q
Start-Sleep -Milliseconds 500
$t = Try-Get $q
$total = $null
if ($t) {
  $total = [pscustomobject]@{
    busy = [double]$t.PercentProcessorTime
    user = [double]$t.PercentUserTime
    privileged = [double]$t.PercentPrivilegedTime
    idle = [double]$t.PercentIdleTime
  }
}
[pscustomobject]@{
  model = $(if ($cpus.Count -gt 0) { $cpus[0].Name } else { $null })
  sockets = $cpus.Count
  logical = $logical
  processor_count = [Environment]::ProcessorCount
  total = $total
}
