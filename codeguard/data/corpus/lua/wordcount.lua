#!/usr/bin/env lua
--- Count words in files (or stdin) and print the most common ones.
-- usage: lua wordcount.lua [-n N] [--min-length L] [file ...]

local queues = require("queue")

local function usage(msg)
  if msg then
    io.stderr:write("error: ", msg, "\n")
  end
  io.stderr:write("usage: wordcount.lua [-n N] [--min-length L] [file ...]\n")
  os.exit(msg and 2 or 0)
end

local function parse_args(argv)
  local opts = { top = 10, min_length = 1, files = {} }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-n" or a == "--min-length" then
      local n = tonumber(argv[i + 1])
      if not n or n < 1 or n % 1 ~= 0 then
        usage(a .. " expects a positive integer")
      end
      if a == "-n" then opts.top = n else opts.min_length = n end
      i = i + 1
    elseif a == "-h" or a == "--help" then
      usage()
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      usage("unknown option " .. a)
    else
      opts.files[#opts.files + 1] = a
    end
    i = i + 1
  end
  return opts
end

local function count_words(handle, counts, min_length)
  for line in handle:lines() do
    for word in line:lower():gmatch("[%a']+") do
      word = word:gsub("^'+", ""):gsub("'+$", "")
      if #word >= min_length then
        counts[word] = (counts[word] or 0) + 1
      end
    end
  end
end

local function main(argv)
  local opts = parse_args(argv)
  local counts = {}

  if #opts.files == 0 then
    opts.files = { "-" }
  end

  for _, name in ipairs(opts.files) do
    local handle, err
    if name == "-" then
      handle = io.stdin
    else
      handle, err = io.open(name, "r")
    end
    if not handle then
      io.stderr:write("wordcount: ", err, "\n")
    else
      local ok, problem = pcall(count_words, handle, counts, opts.min_length)
      if not ok then
        io.stderr:write(string.format("wordcount: %s: %s\n", name, problem))
      end
      if handle ~= io.stdin then
        handle:close()
      end
    end
  end

  -- Keep only the top N entries in a min-heap ordered by count.
  local heap = queues.Heap(function(a, b)
    if a.count ~= b.count then
      return a.count < b.count
    end
    return a.word > b.word
  end)
  for word, count in pairs(counts) do
    heap:push({ word = word, count = count })
    if heap.size > opts.top then
      heap:pop()
    end
  end

  local results = queues.Deque()
  while heap.size > 0 do
    results:push_front(heap:pop())
  end
  for entry in results:iter() do
    print(string.format("%7d  %s", entry.count, entry.word))
  end
  return 0
end

os.exit(main(arg))
