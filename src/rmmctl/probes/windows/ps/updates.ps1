# rmmctl-probe: updates@1
# Windows Update: the pending software updates (a search; it may take long: the section has its own
# budget) and the agent's last successful search and install. A failing search (0x8024...) throws.
$results = Try-Get { (New-Object -ComObject Microsoft.Update.AutoUpdate).Results }
$lastSearch = $null
$lastInstall = $null
if ($results) {
  $lastSearch = Try-Get { Iso $results.LastSearchSuccessDate }
  $lastInstall = Try-Get { Iso $results.LastInstallationSuccessDate }
}
$session = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$found = $searcher.Search("IsInstalled=0 and IsHidden=0 and Type='Software'")
if ([int]$found.ResultCode -ge 4) { throw "Windows Update search failed (ResultCode $([int]$found.ResultCode): 4 failed, 5 aborted)" }
$list = @(foreach ($u in @($found.Updates)) {
  [pscustomobject]@{
    title = "$($u.Title)"
    kb = @(foreach ($k in @($u.KBArticleIDs)) { "$k" })
    severity = $(if ($u.MsrcSeverity) { "$($u.MsrcSeverity)" } else { $null })
    categories = @(foreach ($c in @($u.Categories)) { "$($c.Name)" })
    reboot = [bool]$u.RebootRequired
  }
})
[pscustomobject]@{
  result_code = [int]$found.ResultCode
  last_search = $lastSearch
  last_install = $lastInstall
  updates = $list
}
