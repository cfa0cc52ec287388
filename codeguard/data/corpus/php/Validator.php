<?php

declare(strict_types=1);

namespace App\Validation;

use InvalidArgumentException;
use JsonSerializable;

/**
 * Validates associative arrays against rule strings such as
 * "required|string|max:255" and collects human-readable messages.
 */
final class Validator implements JsonSerializable
{
    /** @var array<string, list<string>> */
    private array $errors = [];

    /** @var array<string, callable(mixed, ?string): bool> */
    private static array $customRules = [];

    /**
     * @param array<string, mixed>  $data
     * @param array<string, string|list<string>> $rules
     */
    public function __construct(
        private readonly array $data,
        private readonly array $rules,
    ) {
    }

    public static function extend(string $name, callable $check): void
    {
        if (isset(self::$customRules[$name])) {
            throw new InvalidArgumentException("Rule '{$name}' is already registered");
        }
        self::$customRules[$name] = $check;
    }

    public function passes(): bool
    {
        $this->errors = [];

        foreach ($this->rules as $field => $ruleSet) {
            $rules = is_array($ruleSet) ? $ruleSet : explode('|', $ruleSet);
            $value = $this->data[$field] ?? null;
            $present = array_key_exists($field, $this->data) && $value !== '' && $value !== null;

            if (!$present && !in_array('required', $rules, true)) {
                continue;
            }

            foreach ($rules as $rule) {
                [$name, $param] = array_pad(explode(':', $rule, 2), 2, null);
                if (!$this->check($name, $value, $param)) {
                    $this->errors[$field][] = $this->message($field, $name, $param);
                    if ($name === 'required') {
                        break;
                    }
                }
            }
        }

        return $this->errors === [];
    }

    public function fails(): bool
    {
        return !$this->passes();
    }

    /** @return array<string, list<string>> */
    public function errors(): array
    {
        return $this->errors;
    }

    public function jsonSerialize(): array
    {
        return ['valid' => $this->errors === [], 'errors' => $this->errors];
    }

    private function check(string $rule, mixed $value, ?string $param): bool
    {
        return match ($rule) {
            'required' => $value !== null && $value !== '' && $value !== [],
            'string' => is_string($value),
            'integer' => filter_var($value, FILTER_VALIDATE_INT) !== false,
            'numeric' => is_numeric($value),
            'email' => filter_var($value, FILTER_VALIDATE_EMAIL) !== false,
            'min' => $this->size($value) >= (float) $param,
            'max' => $this->size($value) <= (float) $param,
            'in' => in_array((string) $value, explode(',', (string) $param), true),
            'regex' => preg_match((string) $param, (string) $value) === 1,
            'confirmed' => $value === ($this->data[$param ?? ''] ?? null),
            default => isset(self::$customRules[$rule])
                ? (bool) (self::$customRules[$rule])($value, $param)
                : throw new InvalidArgumentException("Unknown rule '{$rule}'"),
        };
    }

    private function size(mixed $value): float
    {
        if (is_numeric($value)) {
            return (float) $value;
        }
        if (is_array($value)) {
            return count($value);
        }
        return mb_strlen((string) $value);
    }

    private function message(string $field, string $rule, ?string $param): string
    {
        $label = ucfirst(str_replace('_', ' ', $field));

        switch ($rule) {
            case 'required':
                return "{$label} is required.";
            case 'min':
                return sprintf('%s must be at least %s.', $label, $param);
            case 'max':
                return sprintf('%s may not be greater than %s.', $label, $param);
            case 'in':
                return "{$label} must be one of: " . str_replace(',', ', ', (string) $param) . '.';
            default:
                return "{$label} is not a valid {$rule}.";
        }
    }
}
