# rmmctl-probe: host@1
$cs = Get-CimInstance Win32_ComputerSystem -OperationTimeoutSec 8
$os = Get-CimInstance Win32_OperatingSystem -OperationTimeoutSec 8
$guid = Try-Get { (Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Cryptography' -Name MachineGuid).MachineGuid }
[pscustomobject]@{
  hostname = $env:COMPUTERNAME
  dns_hostname = $cs.DNSHostName
  domain = $cs.Domain
  part_of_domain = [bool]$cs.PartOfDomain
  version = $os.Version
  arch = $env:PROCESSOR_ARCHITECTURE
  machine_guid = $guid
}
