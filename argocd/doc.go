// Package argocd holds the Argo CD health checks of the operator's kinds:
// one Lua script per kind in health/budget.bss.dev/<Kind>/health.lua (the
// layout of Argo CD's built-in resource_customizations), the same scripts
// as an argocd-cm patch in argocd-cm.yaml, and the fixtures in testdata/.
// The scripts are generated from the template health/health.lua.tmpl, with
// the blocks a kind's optional health/budget.bss.dev/<Kind>/health.lua.tmpl
// redefines.
//
// The package has no code of its own. Its tests run every script the way
// Argo CD does, with gopher-lua and only Lua's base, package and table
// libraries, on each fixture converted to a Lua table, and fail when a
// reason of the API has no fixture or no decided health, or when a script
// no longer matches the template or argocd-cm.yaml the scripts (go test
// ./argocd -update regenerates both). docs/argocd.md explains the mapping.
package argocd
