--- A double-ended queue and a priority queue built on the class helper.
local class = require("class")

local Deque = class.new("Deque")

function Deque:init(items)
  self.first = 1
  self.last = 0
  self.items = {}
  for _, v in ipairs(items or {}) do
    self:push_back(v)
  end
end

function Deque:push_back(value)
  self.last = self.last + 1
  self.items[self.last] = value
  return self
end

function Deque:push_front(value)
  self.first = self.first - 1
  self.items[self.first] = value
  return self
end

function Deque:pop_front()
  if self:is_empty() then
    return nil, "deque is empty"
  end
  local value = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  return value
end

function Deque:pop_back()
  if self:is_empty() then
    return nil, "deque is empty"
  end
  local value = self.items[self.last]
  self.items[self.last] = nil
  self.last = self.last - 1
  return value
end

function Deque:len()
  return self.last - self.first + 1
end

function Deque:is_empty()
  return self.first > self.last
end

--- Iterate from front to back without removing anything.
function Deque:iter()
  local i = self.first - 1
  return function()
    i = i + 1
    if i <= self.last then
      return self.items[i]
    end
  end
end

function Deque:describe()
  local parts = {}
  for v in self:iter() do
    parts[#parts + 1] = tostring(v)
  end
  return "Deque(" .. table.concat(parts, ", ") .. ")"
end

local Heap = class.new("Heap")

--- @param cmp function(a, b) returning true when a should come out first
function Heap:init(cmp)
  self.cmp = cmp or function(a, b) return a < b end
  self.size = 0
  self.data = {}
end

function Heap:push(value)
  local data, cmp = self.data, self.cmp
  self.size = self.size + 1
  local i = self.size
  data[i] = value
  while i > 1 do
    local parent = i // 2
    if not cmp(data[i], data[parent]) then
      break
    end
    data[i], data[parent] = data[parent], data[i]
    i = parent
  end
end

function Heap:pop()
  local data, cmp, n = self.data, self.cmp, self.size
  if n == 0 then
    return nil
  end
  local top = data[1]
  data[1] = data[n]
  data[n] = nil
  n = n - 1
  self.size = n
  local i = 1
  repeat
    local smallest = i
    local left, right = 2 * i, 2 * i + 1
    if left <= n and cmp(data[left], data[smallest]) then smallest = left end
    if right <= n and cmp(data[right], data[smallest]) then smallest = right end
    if smallest == i then
      break
    end
    data[i], data[smallest] = data[smallest], data[i]
    i = smallest
  until false
  return top
end

function Heap:peek()
  return self.data[1]
end

return { Deque = Deque, Heap = Heap }
