--[[
Placement job_submit.lua (slurmctld, Slurm >= 22.05): steer jobs to nodes that already cache their
container image. Install as /etc/slurm/job_submit.lua with JobSubmitPlugins=lua (docs/slurm.md).

The Placement SPANK plugin validates --container-image at submit and hands slurmctld three
spank_job_env entries, plain NAME=value strings (0-indexed table, spank_job_env_size entries):
  PLACEMENT_IMAGE=<canonical reference>
  PLACEMENT_IMAGE_ID=img_<id>          the Slurm feature the node agent publishes on nodes holding it
  PLACEMENT_MODE=soft|hard             the plugstack argument mode=

soft (default): job_desc.prefer = <the job's own --constraint> & img_<id>. Slurm replaces the
  constraint by the preference when it can, so both must be in it; when no node can satisfy the
  preference the job falls back to its plain --constraint (greedy: a busy preferred node means the
  job runs elsewhere at once). A user's explicit --prefer is left alone.
hard: img_<id> is AND-ed into job_desc.features: the job runs only on nodes holding the image.
Both: "placement_image=<reference>" is added to job_desc.admin_comment, where the prefetch controller
reads the reference of pending jobs (`scontrol show job` shows AdminComment, not the spank
environment; users cannot set it). Jobs without an image are not touched.
When it steered the job, "placement_steer=soft|hard" is added there too: `scontrol update job
Features=...` on a pending job replaces its constraint but leaves the preference built from the old
one, which Slurm then tries instead of the new constraint (the job could start on a node without a
feature it now requires); slurm_job_modify rebuilds the preference (soft) or re-adds img_<id> to
the new constraint (hard) for jobs so marked. Slurm 22.05 gives the lua the job's spank
environment and admin comment on modify, not its current Prefer.
--]]

-- Partitions where every job with an image is placed in hard mode, whatever the plugin's mode=,
-- e.g. HARD_PARTITIONS = { gpu = true, ["big-mem"] = true }
HARD_PARTITIONS = {}

local FEATURE_PATTERN = "^img_[a-z0-9_]+$"

-- Value of NAME in the job's spank environment (entries "NAME=value"), or nil.
local function spank_env(job_desc, name)
	local env = job_desc.spank_job_env
	local size = job_desc.spank_job_env_size or 0
	if env == nil then
		return nil
	end
	local prefix = name .. "="
	for i = 0, size - 1 do
		local entry = env[i]
		if entry ~= nil and string.sub(entry, 1, #prefix) == prefix then
			return string.sub(entry, #prefix + 1)
		end
	end
	return nil
end

local function empty(s)
	return s == nil or s == ""
end

-- "<expr>&feature", or nil when Slurm 22.05 could not parse the result. & must bind to all of expr, so an
-- expression with an OR outside brackets and parentheses is parenthesized ((a|b)&f, (a|[b|c])&f); one without such
-- an OR only gets &f appended ([a|b]&f, (a|b)&c&f). Slurm 22.05 refuses nested parentheses ("Invalid feature
-- specification", the whole submission fails), so an expression with parentheses and a top-level OR, (a|b)|c,
-- cannot be combined: nil, and the caller leaves the job as the user wrote it.
local function and_feature(expr, feature)
	if empty(expr) then
		return feature
	end
	local depth, top_or = 0, false
	for c in string.gmatch(expr, ".") do
		if c == "(" or c == "[" then
			depth = depth + 1
		elseif c == ")" or c == "]" then
			depth = depth - 1
		elseif c == "|" and depth == 0 then
			top_or = true
		end
	end
	if not top_or then
		return expr .. "&" .. feature
	end
	if string.find(expr, "(", 1, true) then
		return nil
	end
	return "(" .. expr .. ")&" .. feature
end

-- The partitions the job may run in: its --partition list, else the default partition.
local function job_partitions(job_desc, part_list)
	local names = {}
	if not empty(job_desc.partition) then
		for name in string.gmatch(job_desc.partition, "[^,]+") do
			table.insert(names, name)
		end
	elseif part_list ~= nil then
		for name, part in pairs(part_list) do
			if part.flag_default == 1 then
				table.insert(names, part.name or name)
			end
		end
	end
	return names
end

-- Hard when the plugin says so, or when every partition of the job is in HARD_PARTITIONS.
local function is_hard(mode, partitions)
	if mode == "hard" then
		return true
	end
	if #partitions == 0 then
		return false
	end
	for _, name in ipairs(partitions) do
		if not HARD_PARTITIONS[name] then
			return false
		end
	end
	return true
end

-- "placement_image=REF" in the admin comment (kept beside an admin's own text), for the prefetch controller.
local function record_image(job_desc, image)
	local tag = "placement_image=" .. image
	if empty(job_desc.admin_comment) then
		job_desc.admin_comment = tag
	elseif not string.find(job_desc.admin_comment, tag, 1, true) then
		job_desc.admin_comment = job_desc.admin_comment .. " " .. tag
	end
end

-- "placement_steer=soft|hard" in the admin comment: this script added the image to the job's preference (soft) or
-- constraint (hard), so slurm_job_modify keeps it in step with the job's constraint.
local function record_steer(job_desc, how)
	local tag = "placement_steer=" .. how
	if empty(job_desc.admin_comment) then
		job_desc.admin_comment = tag
	else
		job_desc.admin_comment = job_desc.admin_comment .. " " .. tag
	end
end

-- How the job was steered at submit ("soft", "hard"), or nil: not steered (no image, the user's own --prefer, a
-- constraint Slurm could not nest) or submitted before this script recorded it.
local function recorded_steer(admin_comment)
	if admin_comment == nil then
		return nil
	end
	return string.match(admin_comment, "placement_steer=(%a+)")
end

-- True when expr already requires feature: one of its terms joined by & outside brackets and parentheses, with no
-- OR there ("a&img_x", not "a|img_x" or "(img_x|a)").
local function requires_feature(expr, feature)
	local depth, term = 0, ""
	local terms = {}
	for c in string.gmatch(expr, ".") do
		if c == "(" or c == "[" then
			depth = depth + 1
		elseif c == ")" or c == "]" then
			depth = depth - 1
		end
		if depth == 0 and c == "|" then
			return false
		elseif depth == 0 and c == "&" then
			table.insert(terms, term)
			term = ""
		else
			term = term .. c
		end
	end
	table.insert(terms, term)
	for _, t in ipairs(terms) do
		if t == feature then
			return true
		end
	end
	return false
end

-- expr with feature required: expr itself when it already requires it, else and_feature (nil when not combinable).
local function with_feature(expr, feature)
	if not empty(expr) and requires_feature(expr, feature) then
		return expr
	end
	return and_feature(expr, feature)
end

function slurm_job_submit(job_desc, part_list, submit_uid)
	local feature = spank_env(job_desc, "PLACEMENT_IMAGE_ID")
	if feature == nil then
		return slurm.SUCCESS
	end
	if not string.match(feature, FEATURE_PATTERN) then
		slurm.log_error("placement: submit: uid %u: ignoring PLACEMENT_IMAGE_ID=%s: not an img_ feature name",
			submit_uid, feature)
		return slurm.SUCCESS
	end
	local image = spank_env(job_desc, "PLACEMENT_IMAGE") or "?"
	local mode = spank_env(job_desc, "PLACEMENT_MODE") or "soft"
	if image ~= "?" and not string.find(image, "%s") then
		record_image(job_desc, image)
	end

	if is_hard(mode, job_partitions(job_desc, part_list)) then
		local before = job_desc.features
		local combined = with_feature(before, feature)
		if combined == nil then
			slurm.log_info("placement: submit: uid %u image %s: hard: constraint %s has parentheses and an OR, "
				.. "which Slurm cannot nest: left as it is, %s not required", submit_uid, image, before, feature)
			return slurm.SUCCESS
		end
		job_desc.features = combined
		record_steer(job_desc, "hard")
		slurm.log_info("placement: submit: uid %u image %s: hard: features %s -> %s",
			submit_uid, image, before or "(none)", job_desc.features)
		return slurm.SUCCESS
	end

	if not empty(job_desc.prefer) then
		slurm.log_info("placement: submit: uid %u image %s: soft: user --prefer=%s kept, %s not added",
			submit_uid, image, job_desc.prefer, feature)
		return slurm.SUCCESS
	end
	local prefer = with_feature(job_desc.features, feature)
	if prefer == nil then
		slurm.log_info("placement: submit: uid %u image %s: soft: constraint %s has parentheses and an OR, "
			.. "which Slurm cannot nest: no preference for %s", submit_uid, image, job_desc.features, feature)
		return slurm.SUCCESS
	end
	job_desc.prefer = prefer
	record_steer(job_desc, "soft")
	slurm.log_info("placement: submit: uid %u image %s: soft: prefer %s (constraint %s)",
		submit_uid, image, job_desc.prefer, job_desc.features or "(none)")
	return slurm.SUCCESS
end

-- scontrol update job ... Features=: keep the image in step with the job's new constraint. Only jobs this script
-- steered at submit (placement_steer= in the admin comment); an update that sets Prefer itself is left alone.
function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	if job_desc.features == nil or job_rec == nil then
		return slurm.SUCCESS
	end
	local feature = spank_env(job_rec, "PLACEMENT_IMAGE_ID")
	if feature == nil or not string.match(feature, FEATURE_PATTERN) then
		return slurm.SUCCESS
	end
	local steer = recorded_steer(job_rec.admin_comment)
	local job = job_rec.job_id or 0
	if steer == "hard" then
		if not empty(job_desc.features) and requires_feature(job_desc.features, feature) then
			return slurm.SUCCESS
		end
		local combined = and_feature(job_desc.features, feature)
		if combined == nil then
			slurm.log_info("placement: modify: uid %u job %u: hard: constraint %s has parentheses and an OR, "
				.. "which Slurm cannot nest: left as it is, %s no longer required", modify_uid, job, job_desc.features, feature)
			return slurm.SUCCESS
		end
		slurm.log_info("placement: modify: uid %u job %u: hard: features %s -> %s",
			modify_uid, job, job_desc.features, combined)
		job_desc.features = combined
	elseif steer == "soft" then
		if job_desc.prefer ~= nil then
			return slurm.SUCCESS
		end
		local prefer = with_feature(job_desc.features, feature)
		if prefer == nil then
			-- The old preference carries the old constraint: left in place, Slurm would try it instead of the new one.
			-- The lua cannot clear Prefer (an empty string means "not updated"), so it becomes the constraint itself.
			job_desc.prefer = job_desc.features
			slurm.log_info("placement: modify: uid %u job %u: soft: constraint %s has parentheses and an OR, "
				.. "which Slurm cannot nest: prefer the constraint itself, %s not preferred", modify_uid, job, job_desc.features, feature)
			return slurm.SUCCESS
		end
		job_desc.prefer = prefer
		slurm.log_info("placement: modify: uid %u job %u: soft: prefer %s (constraint %s)",
			modify_uid, job, prefer, empty(job_desc.features) and "(none)" or job_desc.features)
	end
	return slurm.SUCCESS
end

slurm.log_info("placement: job_submit.lua loaded")
return slurm.SUCCESS
