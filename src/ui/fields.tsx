import { useId, useState, type ReactNode } from 'react';
import { getPath, parseNumberInput, parseNumberList, setPath } from './draft';
import type { FieldErrors } from './validation';

export interface FieldContext {
  draft: unknown;
  errors: FieldErrors;
  onChange: (draft: unknown) => void;
}

function friendly(message: string | undefined, value: unknown): string | undefined {
  if (!message) return undefined;
  if (typeof value === 'string' && /expected number|must be a number/i.test(message))
    return `enter a number (got "${value.length > 24 ? `${value.slice(0, 20)}…` : value}")`;
  return message;
}

function Field({
  label,
  help,
  error,
  children,
  id,
}: {
  label: string;
  help?: string;
  error?: string;
  children: ReactNode;
  id: string;
}) {
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {help && (
        <small className="help" id={`${id}-help`}>
          {help}
        </small>
      )}
      {error && (
        <small className="field-error" id={`${id}-error`} role="alert" data-testid="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

/** A number input bound to a draft path; keeps what the user typed even when it is not (yet) valid. */
export function NumberField({
  ctx,
  path,
  label,
  help,
  min,
  max,
  step,
}: {
  ctx: FieldContext;
  path: string;
  label: string;
  help?: string;
  min?: number;
  max?: number;
  step?: number | 'any';
}) {
  const id = useId();
  const value = getPath(ctx.draft, path);
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? (value === undefined || value === null ? '' : String(value));
  const error = friendly(ctx.errors[path], value);
  return (
    <Field label={label} help={help} error={error} id={id}>
      <input
        id={id}
        name={path}
        inputMode="decimal"
        value={shown}
        min={min}
        max={max}
        step={step}
        aria-invalid={error ? true : undefined}
        aria-describedby={
          [help ? `${id}-help` : '', error ? `${id}-error` : ''].join(' ').trim() || undefined
        }
        onChange={(e) => {
          setText(e.target.value);
          ctx.onChange(setPath(ctx.draft, path, parseNumberInput(e.target.value)));
        }}
        onBlur={() => setText(null)}
      />
    </Field>
  );
}

export function ListField({
  ctx,
  path,
  label,
  help,
}: {
  ctx: FieldContext;
  path: string;
  label: string;
  help?: string;
}) {
  const id = useId();
  const value = getPath(ctx.draft, path);
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? (Array.isArray(value) ? value.join(', ') : String(value ?? ''));
  const nested = Object.entries(ctx.errors).find(([key]) => key === path || key.startsWith(`${path}.`));
  const error = nested
    ? typeof value === 'string'
      ? `enter numbers separated by commas (got "${value}")`
      : nested[1]
    : undefined;
  return (
    <Field label={label} help={help} error={error} id={id}>
      <input
        id={id}
        name={path}
        value={shown}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => {
          setText(e.target.value);
          ctx.onChange(setPath(ctx.draft, path, parseNumberList(e.target.value)));
        }}
        onBlur={() => setText(null)}
      />
    </Field>
  );
}

export function SelectField({
  ctx,
  path,
  label,
  options,
  help,
  onSelect,
}: {
  ctx: FieldContext;
  path: string;
  label: string;
  options: { value: string; label: string }[];
  help?: string;
  onSelect?: (value: string) => void;
}) {
  const id = useId();
  const value = String(getPath(ctx.draft, path) ?? '');
  const error = ctx.errors[path];
  return (
    <Field label={label} help={help} error={error} id={id}>
      <select
        id={id}
        name={path}
        value={value}
        onChange={(e) =>
          onSelect ? onSelect(e.target.value) : ctx.onChange(setPath(ctx.draft, path, e.target.value))
        }
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function CheckboxField({ ctx, path, label }: { ctx: FieldContext; path: string; label: string }) {
  const id = useId();
  return (
    <div className="field checkbox">
      <input
        id={id}
        type="checkbox"
        checked={Boolean(getPath(ctx.draft, path))}
        onChange={(e) => ctx.onChange(setPath(ctx.draft, path, e.target.checked))}
      />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}
