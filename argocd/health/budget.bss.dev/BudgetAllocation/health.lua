-- Argo CD health check for budget.bss.dev/BudgetAllocation (bss-budget-operator).
-- docs/argocd.md explains the mapping; argocd/argocd-cm.yaml carries
-- this script for argocd-cm and is regenerated from it (go test ./argocd -update).
--
-- Healthy: Ready is True for the current generation.
-- Progressing: the operator has not reconciled the current generation yet,
--   or it is working towards Ready and retries by itself.
-- Suspended: waiting for a person by design (Paused, Planned,
--   AwaitingApproval).
-- Degraded: a person has to fix something (credentials, funds, limits,
--   authorization, an unknown transfer outcome...).

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

local hs = {}
if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile this BudgetAllocation"
  return hs
end
local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to set the Ready condition"
  return hs
end
local stale = staleness(ready)
if stale ~= nil then
  hs.status = "Progressing"
  hs.message = stale
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = orDefault(ready.message, "Ready")
  return hs
end
hs.status = classify(ready)
hs.message = describe(ready)
return hs
