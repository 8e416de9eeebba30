-- Argo CD health check for budget.bss.dev/BudgetTransfer (bss-budget-operator).
-- docs/argocd.md explains the mapping; argocd/argocd-cm.yaml carries
-- this script for argocd-cm and is regenerated from it (go test ./argocd -update).
--
-- Healthy: phase Succeeded. Degraded: phase Failed, or Submitting past the
-- safety window (OutcomeUnknown). Suspended: AwaitingApproval.
-- Progressing: Pending or Submitting, or not picked up yet.

-- Only Lua's base library is used: Argo CD runs health checks from argocd-cm
-- without the standard libraries (no string, math or os functions).

-- Ready reasons by the Argo CD health status they mean. Keep in step with
-- api/v1alpha1/conditions.go and docs/argocd.md; argocd/health_test.go fails
-- when a reason of the API is missing here.
local suspended = {
  AwaitingApproval = true, -- a person must approve or deny a transfer
  Paused = true,           -- managementPolicy: Paused
  Planned = true,          -- managementPolicy: Plan
}
local degraded = {
  BSSError = true,
  CouponUnavailable = true,
  CreateFailed = true,
  CredentialsMissing = true,
  CredentialsRejected = true,
  Denied = true,
  EndpointUnreachable = true,
  Failed = true,
  FundingLimitExceeded = true,
  InsufficientFunds = true,
  NamespaceNotAllowed = true,
  OutcomeUnknown = true,
  ReclaimBlocked = true,
  SubAccountClosed = true,
  SubAccountNotFound = true,
  TransferFailed = true,
}
local progressing = {
  AwaitingVerificationCode = true,
  Creating = true,
  EnterpriseAccountNotReady = true,
  Pending = true,
  Progressing = true,
  Reclaiming = true,
  SubAccountNotReady = true,
  Submitting = true,
  Throttled = true,
  TransferInProgress = true,
}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- staleness returns a message when the operator has not reconciled the
-- current generation yet, nil otherwise. Every reconcile stamps the Ready
-- condition with the generation it saw; status.observedGeneration moves
-- only when a reconcile succeeds, so it lags behind on purpose while an
-- object is paused, planned, awaiting approval or failing, and is consulted
-- only when Ready claims success or carries no generation.
local function staleness(ready)
  local generation = obj.metadata.generation
  if generation == nil then
    return nil
  end
  local observed = obj.status.observedGeneration
  local conditionGeneration = ready.observedGeneration
  if conditionGeneration ~= nil and conditionGeneration ~= 0 then
    if conditionGeneration ~= generation then
      return "Waiting for the operator to reconcile generation " .. tostring(generation) ..
        " (the Ready condition describes generation " .. tostring(conditionGeneration) .. ")"
    end
    if ready.status ~= "True" then
      return nil
    end
  end
  if observed == nil or observed ~= generation then
    return "Waiting for the operator to reconcile generation " .. tostring(generation) ..
      " (status describes generation " .. tostring(observed or 0) .. ")"
  end
  return nil
end

local function orDefault(value, default)
  if value == nil or value == "" then
    return default
  end
  return value
end

local function describe(c)
  local reason = orDefault(c.reason, c.type .. " is " .. tostring(c.status))
  if c.message == nil or c.message == "" then
    return reason
  end
  return reason .. ": " .. c.message
end

local function classify(c)
  local reason = c.reason or ""
  if suspended[reason] then
    return "Suspended"
  end
  if degraded[reason] then
    return "Degraded"
  end
  if progressing[reason] then
    return "Progressing"
  end
  -- A reason this script does not know yet (from a newer operator).
  return "Progressing"
end

-- A transfer's phase decides; the Ready condition's reason refines it.
local hs = {}
local phase = nil
if obj.status ~= nil then
  phase = obj.status.phase
end
if phase == nil or phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up this BudgetTransfer"
  return hs
end
local ready = condition("Ready")
if ready ~= nil then
  local stale = staleness(ready)
  if stale ~= nil then
    hs.status = "Progressing"
    hs.message = stale
    return hs
  end
end
local detail = phase
if ready ~= nil then
  detail = describe(ready)
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = detail
  return hs
end
if phase == "Failed" then
  -- Nothing moved: BSS refused the transfer, an approver denied it, or an
  -- administrator settled it as Failed. The allocation plans again.
  hs.status = "Degraded"
  hs.message = detail
  return hs
end
if phase == "AwaitingApproval" then
  local denied = condition("Denied")
  if denied ~= nil and denied.status == "True" then
    hs.status = "Progressing"
    hs.message = "Denied (" .. describe(denied) .. "); the operator marks the transfer Failed"
    return hs
  end
  local approved = condition("Approved")
  if approved ~= nil and approved.status == "True" then
    hs.status = "Progressing"
    hs.message = "Approved (" .. describe(approved) .. "); the operator submits the transfer"
    return hs
  end
  hs.status = "Suspended"
  hs.message = detail
  return hs
end
-- Pending or Submitting: the operator sends it and resends it with the
-- same trans_id until BSS answers definitely, unless the safety window
-- has passed (OutcomeUnknown: an administrator must check BSS).
if ready ~= nil then
  hs.status = classify(ready)
else
  hs.status = "Progressing"
end
hs.message = detail
return hs
