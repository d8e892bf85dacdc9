/** USPS two-letter codes: the states, DC, the territories, the freely associated states, military (AA AE AP). */
export const US_STATE_CODES: ReadonlySet<string> = new Set(
  (
    'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY ' +
    'NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM FM MH PW AA AE AP'
  ).split(' '),
);

/** A ZIP code: 5 digits, or ZIP+4 written 12345-6789. */
export const ZIP_PATTERN = /^\d{5}(-\d{4})?$/;
