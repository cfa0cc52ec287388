#!/usr/bin/env ruby
# frozen_string_literal: true

# Reads an inventory CSV and prints a report.
#
#   ruby report.rb --low 3 stock.csv

require "csv"
require "optparse"
require_relative "inventory"

module Inventory
  class Report
    FORMATS = %i[text json].freeze

    def initialize(warehouse, format: :text, low: Warehouse::LOW_STOCK_THRESHOLD)
      raise ArgumentError, "unknown format #{format}" unless FORMATS.include?(format)

      @warehouse = warehouse
      @format = format
      @low = low
    end

    def render(io = $stdout)
      case @format
      when :json
        io.puts JSON.pretty_generate(@warehouse.to_h)
      when :text
        render_text(io)
      end
    end

    private

    def render_text(io)
      io.puts "Warehouse: #{@warehouse.name}"
      io.puts "-" * 40
      @warehouse.sort_by { |item, _| item.name.downcase }.each do |item, qty|
        flag = qty <= @low ? " (low)" : ""
        io.printf("%-20s %5d  %8s%s\n", item.name, qty, item.price, flag)
      end
      io.puts "-" * 40
      io.puts "Total value: #{format('%.2f', @warehouse.total_value_cents / 100.0)}"
    end
  end

  def self.load_csv(path, warehouse_name)
    warehouse = Warehouse.new(warehouse_name)
    CSV.foreach(path, headers: true, converters: :numeric).with_index(2) do |row, line|
      item = Item.new(
        sku: row.fetch("sku"),
        name: row.fetch("name"),
        price_cents: (row.fetch("price") * 100).round,
        tags: row["tags"].to_s.split(";").map(&:strip).reject(&:empty?)
      )
      warehouse.add(item, row.fetch("quantity").to_i)
    rescue KeyError, ArgumentError => e
      warn "#{path}:#{line}: skipping row (#{e.message})"
    end
    warehouse
  end
end

if $PROGRAM_NAME == __FILE__
  options = { format: :text, low: 5, name: "main" }
  parser = OptionParser.new do |opts|
    opts.banner = "Usage: report.rb [options] FILE"
    opts.on("-f", "--format FORMAT", Inventory::Report::FORMATS, "text or json") { |f| options[:format] = f }
    opts.on("-l", "--low N", Integer, "low-stock threshold") { |n| options[:low] = n }
    opts.on("-n", "--name NAME", "warehouse name") { |n| options[:name] = n }
    opts.on("-h", "--help") do
      puts opts
      exit
    end
  end

  begin
    parser.parse!
    path = ARGV.shift or abort(parser.banner)
    warehouse = Inventory.load_csv(path, options[:name])
    warehouse.on_change { |event, item, qty| warn "#{event} #{qty} x #{item.name}" }
    Inventory::Report.new(warehouse, format: options[:format], low: options[:low]).render
  rescue OptionParser::ParseError => e
    abort "report.rb: #{e.message}"
  rescue Errno::ENOENT => e
    abort "report.rb: #{e.message}"
  end
end
