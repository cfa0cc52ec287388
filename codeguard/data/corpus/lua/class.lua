--- Minimal class system with single inheritance and mixins.
-- @module class

local class = {}

local function include(cls, mixin)
  for name, value in pairs(mixin) do
    if name ~= "included" and cls[name] == nil then
      cls[name] = value
    end
  end
  if type(mixin.included) == "function" then
    mixin.included(cls)
  end
  return cls
end

--- Create a new class, optionally inheriting from `parent`.
-- @tparam string name the class name, used by tostring
-- @param[opt] parent the base class
function class.new(name, parent)
  local cls = {}
  cls.__index = cls
  cls.__name = name
  cls.super = parent
  cls.include = include

  cls.__tostring = function(self)
    if rawget(cls, "describe") then
      return self:describe()
    end
    return string.format("%s instance", name)
  end

  setmetatable(cls, {
    __index = parent,
    __tostring = function() return "class " .. name end,
    __call = function(c, ...)
      local instance = setmetatable({}, c)
      if c.init then
        c.init(instance, ...)
      end
      return instance
    end,
  })
  return cls
end

--- Check whether `obj` is an instance of `cls` or one of its subclasses.
function class.is_instance(obj, cls)
  if type(obj) ~= "table" then
    return false
  end
  local mt = getmetatable(obj)
  while mt do
    if mt == cls then
      return true
    end
    mt = mt.super
  end
  return false
end

return class
